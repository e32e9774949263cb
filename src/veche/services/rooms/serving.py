"""Events as clients are served them (spec: client-server-api/_index.md "Room event format",
"Redactions", "Aggregations of child events"; definitions/client_event.yaml).

Public API (one instance per server: `hs.serializer`):

    EventSerializer(stores=…, redactions=…, relations=…, transactions=…, visibility=…,
                    ignored_users=no_ignored_users)
    await serialize(events: list[Event], *, requester: TokenInfo | None,
                    include_room_id: bool = True, now_ms: int,
                    bundle_aggregations: bool = True) -> list[dict]
        Client-format events, in the order given, with:
        - redacted events pruned, and `unsigned.redacted_because`;
        - `unsigned.transaction_id` on events the requester's device sent;
        - `unsigned.prev_content` / `prev_sender` / `replaces_state` on state events;
        - `unsigned.membership`: the requester's membership after the event;
        - `unsigned["m.relations"]`: `m.replace` (latest valid edit), `m.thread`
          (latest_event, count, current_user_participated), `m.reference` (chunk).
        Every lookup is batched over the list. The events themselves are not checked for
        visibility here: filter first (`HistoryVisibility.filter_events_for_user`); the
        children bundled into `m.relations` are.

    IgnoredUsers = Callable[[str], Awaitable[frozenset[str]]]
        user ID → the users they ignore; their events are left out of aggregations.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Awaitable, Callable
from typing import Any

from veche.protocol.client_events import format_client_event
from veche.protocol.events import Event, StateKey
from veche.protocol.redaction import redact
from veche.protocol.redaction_checks import redaction_applies
from veche.protocol.relations import REFERENCE, REPLACE, THREAD, is_valid_replacement, latest_replacement
from veche.services.rooms.visibility import HistoryVisibility
from veche.storage.accounts import TokenInfo
from veche.storage.cache import LruCache
from veche.storage.redactions import RedactionStore
from veche.storage.relations import Relation, RelationStore
from veche.storage.room_directory import ClientTransactionStore
from veche.storage.stores import EventStores

IgnoredUsers = Callable[[str], Awaitable[frozenset[str]]]

_POWER_KEYS: tuple[StateKey, ...] = (("m.room.power_levels", ""), ("m.room.create", ""))


async def no_ignored_users(user_id: str) -> frozenset[str]:
    """The seam until ignoring users (m.ignored_user_list) is wired in."""
    return frozenset()


class EventSerializer:
    def __init__(
        self,
        *,
        stores: EventStores,
        redactions: RedactionStore,
        relations: RelationStore,
        transactions: ClientTransactionStore,
        visibility: HistoryVisibility,
        ignored_users: IgnoredUsers = no_ignored_users,
        untouched_cache_size: int = 20_000,
    ) -> None:
        self._events = stores.events
        self._state = stores.state
        self._redactions = redactions
        self._relations = relations
        self._transactions = transactions
        self._visibility = visibility
        self._ignored_users = ignored_users
        # Events known to be named by no redaction and no relation: their lookups are
        # skipped. The event store drops an event from here when one that names it commits;
        # a lookup that raced such a commit, or ran while a commit waited above the stream
        # position the index follows, records nothing.
        self._untouched: LruCache[str, bool] = LruCache(untouched_cache_size)
        self._target_commits = 0
        stores.events.add_target_listener(self._targets_committed)
        stores.events.add_new_local_listener(self._new_local_committed)

    def _new_local_committed(self, event_ids: list[str]) -> None:
        # Every receiver of a new message would otherwise look up its redactions and
        # relations before the first of them recorded that it has none.
        for event_id in event_ids:
            self._untouched.set(event_id, True)

    def _targets_committed(self, target_ids: list[str]) -> None:
        self._target_commits += 1
        for target_id in target_ids:
            self._untouched.pop(target_id)

    async def serialize(
        self,
        events: list[Event],
        *,
        requester: TokenInfo | None,
        include_room_id: bool = True,
        now_ms: int,
        bundle_aggregations: bool = True,
    ) -> list[dict[str, Any]]:
        return await self._serialize(
            events, requester, include_room_id, now_ms, levels=1 if bundle_aggregations else 0
        )

    async def _serialize(
        self,
        events: list[Event],
        requester: TokenInfo | None,
        include_room_id: bool,
        now_ms: int,
        *,
        levels: int,
    ) -> list[dict[str, Any]]:
        """`levels` says how deep aggregations nest (a thread's latest event has its own)."""
        if not events:
            return []
        unknown = [e.event_id for e in events if e.event_id not in self._untouched]
        target_commits = self._target_commits
        complete = self._events.every_commit_is_visible
        touched: set[str] = set()
        redacted_by = await self.applied_redactions(events, touched)
        unsigned: dict[str, dict[str, Any]] = {e.event_id: {} for e in events}
        await self._add_transaction_ids(events, requester, unsigned)
        await self._add_replaced_state(events, unsigned)
        if requester is not None:
            memberships = await self._visibility.memberships_after(requester.user_id, events)
            for event_id, membership in memberships.items():
                unsigned[event_id]["membership"] = membership or "leave"
        if levels > 0:
            aggregations = await self._aggregations(
                events, redacted_by, requester, include_room_id, now_ms, levels - 1, touched
            )
            for event_id, relations in aggregations.items():
                unsigned[event_id]["m.relations"] = relations
            if complete and target_commits == self._target_commits:
                for event_id in unknown:
                    if event_id not in touched:
                        self._untouched.set(event_id, True)
        served = []
        for event in events:
            extras = unsigned[event.event_id]
            redaction = redacted_by.get(event.event_id)
            pdu = None
            if redaction is not None:
                pdu = redact(event.pdu, event.room_version)
                extras["redacted_because"] = format_client_event(
                    redaction, now_ms=now_ms, include_room_id=include_room_id
                )
            served.append(
                format_client_event(event, now_ms=now_ms, include_room_id=include_room_id, unsigned=extras, pdu=pdu)
            )
        return served

    async def applied_redactions(self, events: list[Event], named_ids: set[str] | None = None) -> dict[str, Event]:
        """event ID → the first redaction that applies to it, for the redacted ones among `events`.

        `named_ids`, when given, receives the IDs of the events some redaction names.
        """
        by_id = {e.event_id: e for e in events}
        named = await self._redactions.redactions_of(i for i in by_id if i not in self._untouched)
        if named_ids is not None:
            named_ids.update(named)
        if not named:
            return {}
        redactions = await self._events.get_events(r for ids in named.values() for r in ids)
        deferred = [
            redactions[r]
            for target_id, ids in named.items()
            if by_id[target_id].room_version.deferred_redaction_checks
            for r in ids
            if r in redactions
        ]
        power = await self._power_at(deferred)
        applied: dict[str, Event] = {}
        for target_id, ids in named.items():
            for redaction_id in ids:
                redaction = redactions.get(redaction_id)
                if redaction is None:
                    continue
                power_levels, create = power.get(redaction_id, (None, None))
                if redaction_applies(redaction, by_id[target_id], power_levels, create):
                    applied[target_id] = redaction
                    break
        return applied

    async def _power_at(self, events: list[Event]) -> dict[str, tuple[Event | None, Event | None]]:
        """event ID → (power levels, create event) in the state at each event."""
        if not events:
            return {}
        snapshots = await self._state.get_snapshots_after(e.event_id for e in events)
        picked = await self._state.pick_many_snapshot_ids(dict.fromkeys(snapshots.values(), _POWER_KEYS))
        state_events = await self._events.get_events(i for p in picked.values() for i in p.values())
        result: dict[str, tuple[Event | None, Event | None]] = {}
        for event_id, nid in snapshots.items():
            ids = picked[nid]
            power_levels, create = (state_events.get(ids[key]) if key in ids else None for key in _POWER_KEYS)
            result[event_id] = (power_levels, create)
        return result

    async def _add_transaction_ids(
        self, events: list[Event], requester: TokenInfo | None, unsigned: dict[str, dict[str, Any]]
    ) -> None:
        if requester is None:
            return
        own = [e.event_id for e in events if e.sender == requester.user_id and not e.is_state]
        if not own:
            return
        txn_ids = await self._transactions.transaction_ids(own, requester.user_id, requester.device_id)
        for event_id, txn_id in txn_ids.items():
            unsigned[event_id]["transaction_id"] = txn_id

    async def _add_replaced_state(self, events: list[Event], unsigned: dict[str, dict[str, Any]]) -> None:
        """prev_content and friends: the state each state event replaced (the state after its
        first prev event)."""
        # (event ID, key it sets, its first prev event), each read from the PDU once.
        state_events = [
            (e.event_id, e.state_tuple, prev_ids[0])
            for e in events
            if e.is_state and (prev_ids := e.prev_event_ids)
        ]
        if not state_events:
            return
        snapshots = await self._state.get_snapshots_after(prev_id for _, _, prev_id in state_events)
        wanted: dict[int, set[StateKey]] = defaultdict(set)
        for _, key, prev_id in state_events:
            snapshot = snapshots.get(prev_id)
            if snapshot is not None:
                wanted[snapshot].add(key)
        picked = await self._state.pick_many_snapshot_ids(wanted)
        replaced_ids: dict[str, str] = {}
        for event_id, key, prev_id in state_events:
            snapshot = snapshots.get(prev_id)
            if snapshot is not None and key in picked[snapshot]:
                replaced_ids[event_id] = picked[snapshot][key]
        replaced = await self._events.get_events(replaced_ids.values())
        # What a redaction removed must not come back through prev_content.
        redacted = await self.applied_redactions(list(replaced.values()))
        for event_id, replaced_id in replaced_ids.items():
            previous = replaced.get(replaced_id)
            if previous is None:
                continue
            content = previous.content
            if replaced_id in redacted:
                content = redact(previous.pdu, previous.room_version)["content"]
            unsigned[event_id].update(replaces_state=replaced_id, prev_content=content, prev_sender=previous.sender)

    async def _aggregations(
        self,
        events: list[Event],
        redacted_by: dict[str, Event],
        requester: TokenInfo | None,
        include_room_id: bool,
        now_ms: int,
        levels: int,
        related_ids: set[str],
    ) -> dict[str, dict[str, Any]]:
        """Bundles by parent event ID; `related_ids` receives the IDs of parents with children."""
        # State events get no bundled aggregations (_index.md "Aggregations of child events").
        parents = {e.event_id: e for e in events if not e.is_state and e.event_id not in self._untouched}
        if not parents:
            return {}
        relations = await self._relations.children(parents, (REPLACE, THREAD, REFERENCE))
        related_ids.update(r.parent_id for r in relations)
        if not relations:
            return {}
        ignored = await self._ignored_users(requester.user_id) if requester is not None else frozenset()
        relations = [r for r in relations if r.sender not in ignored]
        children = await self._events.get_events(r.event_id for r in relations)
        if requester is not None:
            # A child the requester may not see (sent after they left, say) is not bundled.
            visible = await self._visibility.filter_events_for_user(requester.user_id, list(children.values()))
            children = {child.event_id: child for child in visible}
        # A redacted child no longer relates to anything.
        broken = await self.applied_redactions(list(children.values()))
        by_parent: dict[str, dict[str, list[Relation]]] = defaultdict(lambda: defaultdict(list))
        for relation in relations:
            child = children.get(relation.event_id)
            # Relations only hold within a room (_index.md "Relationship types").
            if child is not None and relation.event_id not in broken and child.room_id == parents[relation.parent_id].room_id:
                by_parent[relation.parent_id][relation.rel_type].append(relation)

        bundles: dict[str, dict[str, Any]] = {}
        to_serialize: dict[str, Event] = {}
        edits: dict[str, Event] = {}
        latest_in_thread: dict[str, Event] = {}
        for parent_id, kinds in by_parent.items():
            parent = parents[parent_id]
            bundle: dict[str, Any] = {}
            if kinds.get(REPLACE) and parent_id not in redacted_by:
                valid = [children[r.event_id] for r in kinds[REPLACE]]
                edit = latest_replacement([c for c in valid if is_valid_replacement(parent, c)])
                if edit is not None:
                    edits[parent_id] = edit
                    to_serialize[edit.event_id] = edit
            if kinds.get(THREAD):
                thread = kinds[THREAD]  # topological order
                latest = children[thread[-1].event_id]
                latest_in_thread[parent_id] = latest
                to_serialize[latest.event_id] = latest
                participated = requester is not None and (
                    parent.sender == requester.user_id or any(r.sender == requester.user_id for r in thread)
                )
                bundle[THREAD] = {"count": len(thread), "current_user_participated": participated}
            if kinds.get(REFERENCE):
                bundle[REFERENCE] = {"chunk": [{"event_id": r.event_id} for r in kinds[REFERENCE]]}
            bundles[parent_id] = bundle

        order = list(to_serialize.values())
        served = await self._serialize(order, requester, include_room_id, now_ms, levels=levels)
        served_by_id = dict(zip(to_serialize, served))
        for parent_id, edit in edits.items():
            bundles[parent_id][REPLACE] = served_by_id[edit.event_id]
        for parent_id, latest in latest_in_thread.items():
            bundles[parent_id][THREAD]["latest_event"] = served_by_id[latest.event_id]
        return {parent_id: bundle for parent_id, bundle in bundles.items() if bundle}
