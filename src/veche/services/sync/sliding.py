"""Simplified sliding sync (MSC4186): room lists sorted by activity, room subscriptions
and extensions, as deltas against what the connection already has.

A request starts from the snapshot its `pos` names (nothing without one), builds the
server's room list (joined, invited, knocked, kicked or banned rooms, and rooms left that
were sent before), sorts it by `bump_stamp`, cuts each list's window out of it, and sends
every matched room that is new to the connection or has news since the room was last
sent: new events, a membership change, a wider config, a moved read receipt. Timelines,
visibility, serialisation, stripped state, member summaries and unread counts come from
the same stores and services as /v3/sync. When nothing is to be sent, the request waits
on the notifier until something concerns the user or `timeout` passes.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from veche.errors import MatrixError
from veche.protocol.events import Event, StateKey
from veche.protocol.sliding_sync import (
    BUMP_EVENT_TYPES,
    MEMBER,
    ListFilters,
    RoomConfig,
    RoomFacts,
    SlidingSyncRequest,
    combine_configs,
    sort_by_activity,
)
from veche.protocol.spaces import SPACE_CHILD, is_valid_child
from veche.services.notifier import Notifier
from veche.services.push.counts import NotificationCounts, counts_json, sum_counts
from veche.services.streams import Stream, StreamToken
from veche.services.sync.handler import MAX_TIMEOUT_MS
from veche.services.sync.rooms import HERO_COUNT, ForgottenRooms, IgnoredUsers, Serialize, VisibilityFilter
from veche.services.sync.sliding_connections import Connections, SentRoom, Snapshot, UnknownPos
from veche.services.sync.sliding_extensions import ExtensionInput, SlidingExtensions, extensions_have_news
from veche.services.user_data import UserDataServices
from veche.storage.accounts import TokenInfo
from veche.storage.events import RecentEvents, TopologicalToken
from veche.storage.room_summaries import RoomSummaryStore
from veche.storage.rooms import Membership
from veche.storage.stores import EventStores

StrippedState = Callable[[Membership], Awaitable[list[dict[str, Any]]]]

# Memberships whose rooms show their events (the user is or was in them).
_FULL_MEMBERSHIPS = ("join", "leave", "ban")
# The fields read from the member summary.
_SUMMARY_FIELDS = ("joined_count", "invited_count", "heroes")


def unknown_pos() -> MatrixError:
    return MatrixError(400, "M_UNKNOWN_POS", "Unknown or expired pos: start a new connection")


@dataclass(slots=True)
class _Plan:
    """One room to send: where its timeline starts and what the connection had of it."""

    membership: Membership
    config: RoomConfig
    sent: SentRoom | None
    initial: bool
    expanded: bool

    @property
    def from_pos(self) -> int:
        return 0 if self.initial or self.expanded or self.sent is None else self.sent.events_pos


class SlidingSync:
    def __init__(
        self,
        *,
        stores: EventStores,
        summaries: RoomSummaryStore,
        serialize: Serialize,
        visible_to: VisibilityFilter,
        forgotten_rooms: ForgottenRooms,
        ignored_users: IgnoredUsers,
        stripped_state: StrippedState,
        notifier: Notifier,
        user_data: UserDataServices,
        counts: NotificationCounts,
        extensions: SlidingExtensions,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._stores = stores
        self._summaries = summaries
        self._serialize = serialize
        self._visible_to = visible_to
        self._forgotten_rooms = forgotten_rooms
        self._ignored_users = ignored_users
        self._stripped_state = stripped_state
        self._notifier = notifier
        self._user_data = user_data
        self._counts = counts
        self._extensions = extensions
        self._clock = clock
        self._connections = Connections()

    def forget_room(self, room_id: str) -> None:
        """A purged room was never sent on any connection."""
        self._connections.forget_room(room_id)

    async def sync(self, requester: TokenInfo, request: SlidingSyncRequest) -> dict[str, Any]:
        key = (requester.user_id, requester.device_id, request.conn_id)
        if request.pos is None:
            self._connections.start(key)
            base = Snapshot()
        else:
            try:
                base = self._connections.snapshot_at(key, request.pos)
            except UnknownPos:
                raise unknown_pos() from None
        deadline = self._clock() + min(request.timeout_ms, MAX_TIMEOUT_MS) / 1000
        while True:
            now = self._current_token()
            response, snapshot = await self._build(requester, request, base, now)
            if base.token is None or _has_news(response, base, snapshot):
                break
            remaining = deadline - self._clock()
            if remaining <= 0 or not await self._notifier.wait_for_changes(requester.user_id, now, remaining):
                break
        response["pos"] = self._connections.issue(key, snapshot)
        if request.txn_id is not None:
            # Echoed so a client can tell which of its requests this answers (matrix-rust-sdk).
            response["txn_id"] = request.txn_id
        return response

    def _current_token(self) -> StreamToken:
        return self._notifier.current_token.advance(Stream.EVENTS, self._stores.events.current_stream_token)

    async def _build(
        self, requester: TokenInfo, request: SlidingSyncRequest, base: Snapshot, now: StreamToken
    ) -> tuple[dict[str, Any], Snapshot]:
        user_id = requester.user_id
        candidates = await self._room_list(user_id, base)
        # Without lists only the subscribed rooms need an activity stamp (an extensions-only
        # connection, such as Element X's to-device loop, needs none).
        stamped = candidates if request.lists else {r: candidates[r] for r in request.subscriptions if r in candidates}
        activity = await self._activity(stamped, base, now)
        stamps = _bump_stamps(stamped, activity)
        ordered = sort_by_activity(stamps)
        dm_rooms = await self._dm_rooms(user_id, base) if stamped else frozenset()
        facts = await self._facts(user_id, request, candidates, ordered, dm_rooms)

        list_windows: dict[str, list[str]] = {}
        list_counts: dict[str, int] = {}
        configs: dict[str, list[RoomConfig]] = {}
        # Room → the names of the lists whose window holds it (MSC4186 room `lists`).
        room_lists: dict[str, list[str]] = {}
        for name, list_config in request.lists.items():
            filters = list_config.filters
            filtered = [r for r in ordered if filters.matches(facts[r])] if facts else ordered
            list_counts[name] = len(filtered)
            list_windows[name] = list_config.window(filtered)
            for room_id in list_windows[name]:
                configs.setdefault(room_id, []).append(list_config.room)
                room_lists.setdefault(room_id, []).append(name)
        subscriptions = [r for r in request.subscriptions if r in candidates]
        for room_id in subscriptions:
            configs.setdefault(room_id, []).append(request.subscriptions[room_id])
        combined = {room_id: combine_configs(c) for room_id, c in configs.items()}

        plans = await self._plans(user_id, combined, candidates, dm_rooms, room_lists, base, now)
        rooms, sent = await self._room_results(requester, plans, stamps, dm_rooms, room_lists, base, now)
        fresh = frozenset(room_id for room_id, room in rooms.items() if room.get("initial"))
        joined = frozenset(r for r, m in candidates.items() if m.membership == "join")
        extensions = await self._extensions.build(
            ExtensionInput(requester, request.extensions, base.token, now, list_windows, subscriptions,
                           joined, rooms, fresh)
        )
        response: dict[str, Any] = {
            "lists": {name: {"count": count} for name, count in list_counts.items()},
            "rooms": rooms,
            "extensions": extensions,
        }
        return response, Snapshot(now, {**base.rooms, **sent}, list_counts, activity, dm_rooms)

    async def _room_list(self, user_id: str, base: Snapshot) -> dict[str, Membership]:
        """The server's room list: joined, invited and knocked rooms, rooms the user was
        kicked or banned from, and rooms they left that this connection was sent before
        (MSC4186 "Lists"); forgotten rooms, invites from ignored users and all invites while
        the user blocks them are left out."""
        memberships = await self._stores.rooms.get_memberships_for_user(user_id)
        rooms = {m.room_id: m for m in memberships if m.membership in ("join", "invite", "knock", "ban")}
        left = [m for m in memberships if m.membership == "leave"]
        if left:
            events = await self._stores.events.get_events(m.event_id for m in left)
            for m in left:
                event = events.get(m.event_id)
                if m.room_id in base.rooms or (event is not None and event.sender != user_id):
                    rooms[m.room_id] = m
        if any(m.membership in ("leave", "ban") for m in rooms.values()):
            for room_id in await self._forgotten_rooms(user_id) & set(rooms):
                del rooms[room_id]
        invites = [m for m in rooms.values() if m.membership == "invite"]
        if invites and await self._user_data.account_data.invites_blocked(user_id):
            # invite_permission.md: not served while the user blocks invites.
            for m in invites:
                del rooms[m.room_id]
            invites = []
        ignored = await self._ignored_users(user_id) if invites else frozenset()
        if ignored:
            events = await self._stores.events.get_events(m.event_id for m in invites)
            for m in invites:
                if m.event_id in events and events[m.event_id].sender in ignored:
                    del rooms[m.room_id]
        return rooms

    async def _activity(
        self, candidates: Mapping[str, Membership], base: Snapshot, now: StreamToken
    ) -> dict[str, int]:
        """For each joined room, the position of its last activity event (or of the user's
        join when it has none). Read only for rooms with events since the previous response
        or not joined then; the rest carry over, so a quiet wake-up reads nothing."""
        joined = {room_id: m for room_id, m in candidates.items() if m.membership == "join"}
        known = base.activity
        stale = {r for r in joined if r not in known}
        if base.token is not None:
            stale |= await self._stores.events.get_rooms_with_events(
                [r for r in joined if r in known], base.token.events, now.events
            )
        found = (
            await self._stores.events.get_latest_positions_of_types(stale, BUMP_EVENT_TYPES, now.events)
            if stale else {}
        )
        return {
            room_id: found.get(room_id, m.stream_ordering) if room_id in stale else known[room_id]
            for room_id, m in joined.items()
        }

    async def _dm_rooms(self, user_id: str, base: Snapshot) -> frozenset[str]:
        """The rooms `m.direct` names, read again only when the user's account data moved."""
        since = base.token
        if (
            since is not None
            and base.dm_rooms is not None
            and self._notifier.knows_changes_since(since)
            and Stream.ACCOUNT_DATA in self._notifier.quiet_streams(user_id, since)
        ):
            return base.dm_rooms
        direct = await self._user_data.account_data.get_account_data(user_id, None, "m.direct")
        if not isinstance(direct, dict):
            return frozenset()
        return frozenset(r for rooms in direct.values() if isinstance(rooms, list) for r in rooms if isinstance(r, str))

    async def _facts(
        self,
        user_id: str,
        request: SlidingSyncRequest,
        candidates: Mapping[str, Membership],
        ordered: list[str],
        dm_rooms: frozenset[str],
    ) -> dict[str, RoomFacts]:
        """What the lists' filters look at, read only when some list filters."""
        filters = [c.filters for c in request.lists.values()]
        if all(f == ListFilters() for f in filters):
            return {}
        states = await self._stores.state.get_many_current_state_ids(ordered)
        creates = await self._stores.events.get_events(
            s[("m.room.create", "")] for s in states.values() if ("m.room.create", "") in s
        )
        tags: dict[str, frozenset[str]] = {}
        if any(f.needs_tags for f in filters):
            room_data = await self._user_data.account_data.get_room_changes(user_id, 0)
            tags = {
                room_id: frozenset((data.get("m.tag") or {}).get("tags") or {})
                for room_id, data in room_data.items()
            }
        parents = await self._space_children({s for f in filters for s in f.spaces or ()}, candidates, states)
        facts = {}
        for room_id in ordered:
            state = states.get(room_id, {})
            create = creates.get(state.get(("m.room.create", ""), ""))
            room_type = create.content.get("type") if create is not None else None
            is_encrypted = ("m.room.encryption", "") in state
            if create is None and candidates[room_id].membership in ("invite", "knock"):
                # A room this server does not hold (only the invite): what the invite carried tells.
                stripped = {e.get("type"): e.get("content") for e in await self._stripped_state(candidates[room_id])}
                create_content = stripped.get("m.room.create")
                room_type = create_content.get("type") if isinstance(create_content, dict) else None
                is_encrypted = "m.room.encryption" in stripped
            facts[room_id] = RoomFacts(
                membership=candidates[room_id].membership,
                is_dm=room_id in dm_rooms,
                is_encrypted=is_encrypted,
                room_type=room_type if isinstance(room_type, str) else None,
                tags=tags.get(room_id, frozenset()),
                parent_spaces=parents.get(room_id, frozenset()),
            )
        return facts

    async def _space_children(
        self,
        spaces: set[str],
        candidates: Mapping[str, Membership],
        states: Mapping[str, Mapping[StateKey, str]],
    ) -> dict[str, frozenset[str]]:
        """room ID → the given spaces (joined ones only) naming it as a child, read from the
        current state ids already at hand in one batch."""
        links = {
            event_id: space_id
            for space_id in spaces
            if space_id in candidates and candidates[space_id].membership == "join"
            for (event_type, _), event_id in states.get(space_id, {}).items()
            if event_type == SPACE_CHILD
        }
        if not links:
            return {}
        parents: dict[str, set[str]] = {}
        for event_id, event in (await self._stores.events.get_events(links)).items():
            if is_valid_child(event):
                parents.setdefault(event.state_key or "", set()).add(links[event_id])
        return {room_id: frozenset(s) for room_id, s in parents.items()}

    async def _plans(
        self,
        user_id: str,
        configs: Mapping[str, RoomConfig],
        candidates: Mapping[str, Membership],
        dm_rooms: frozenset[str],
        room_lists: Mapping[str, list[str]],
        base: Snapshot,
        now: StreamToken,
    ) -> list[_Plan]:
        """The matched rooms that must be sent, and how."""
        plans: list[_Plan] = []
        known: dict[int, list[str]] = {}
        for room_id, config in configs.items():
            m = candidates[room_id]
            sent = base.rooms.get(room_id)
            if sent is None or _membership_changed(sent, m):
                plans.append(_Plan(m, config, sent, initial=True, expanded=False))
            elif m.membership in _FULL_MEMBERSHIPS:
                known.setdefault(sent.events_pos, []).append(room_id)
        if not known:
            return plans
        with_news: set[str] = set()
        for events_pos, room_ids in known.items():
            joined = [r for r in room_ids if candidates[r].membership == "join"]
            with_news |= await self._stores.events.get_rooms_with_events(joined, events_pos, now.events)
        if base.token is not None:
            # A read receipt moving changes the room's unread counts, which the client must see.
            with_news |= await self._counts.rooms_read_between(user_id, base.token.receipts, now.receipts)
        # So must a change of m.direct (MSC4186 `is_dm`).
        with_news |= {
            r for ids in known.values() for r in ids if base.rooms[r].fields.get("is_dm") != (r in dm_rooms)
        }
        # And the room moving into or out of a list's window (MSC4186 room `lists`).
        with_news |= {
            r for ids in known.values() for r in ids if base.rooms[r].fields.get("lists", []) != room_lists.get(r, [])
        }
        for room_ids in known.values():
            for room_id in room_ids:
                sent = base.rooms[room_id]
                config = configs[room_id]
                expanded = config.timeline_limit > sent.config.timeline_limit
                if room_id in with_news or expanded or config != sent.config:
                    plans.append(_Plan(candidates[room_id], config, sent, initial=False, expanded=expanded))
        return plans

    async def _room_results(
        self,
        requester: TokenInfo,
        plans: list[_Plan],
        stamps: Mapping[str, int],
        dm_rooms: frozenset[str],
        room_lists: Mapping[str, list[str]],
        base: Snapshot,
        now: StreamToken,
    ) -> tuple[dict[str, dict[str, Any]], dict[str, SentRoom]]:
        rooms: dict[str, dict[str, Any]] = {}
        sent: dict[str, SentRoom] = {}
        full = await self._shown_in_full(plans)
        full_rooms = {p.membership.room_id for p in full}
        for plan in plans:
            m = plan.membership
            if m.room_id in full_rooms:
                continue
            room: dict[str, Any] = {
                "initial": True,
                "membership": m.membership,
                "bump_stamp": stamps[m.room_id],
                "is_dm": m.room_id in dm_rooms,
            }
            if room_lists.get(m.room_id):
                room["lists"] = room_lists[m.room_id]
            if m.membership in ("invite", "knock"):
                stripped = await self._stripped_state(m)
                # `invite_state` is what Synapse and matrix-rust-sdk name it; the MSC now says `stripped_state`.
                room["invite_state"] = room["stripped_state"] = stripped
            rooms[m.room_id] = room
            sent[m.room_id] = SentRoom(
                now.events, m.membership, m.event_id, plan.config, {}, {"lists": room_lists.get(m.room_id, [])}
            )
        if full:
            built, built_sent = await self._full_rooms(requester, full, stamps, dm_rooms, room_lists, base, now)
            rooms.update(built)
            sent.update(built_sent)
        return rooms, sent

    async def _shown_in_full(self, plans: list[_Plan]) -> list[_Plan]:
        """The plans whose rooms show their timeline and state: joined rooms, and rooms left
        or banned from after being joined. A rejected or withdrawn invite, or a refused
        knock, shows only the membership (MSC4186 "Invite/knock/rejections")."""
        full = [p for p in plans if p.membership.membership == "join"]
        gone = [p for p in plans if p.membership.membership in ("leave", "ban")]
        if not gone:
            return full
        leaves = await self._stores.events.get_events(p.membership.event_id for p in gone)
        before = {
            p.membership.event_id: leaves[p.membership.event_id].prev_event_ids[0]
            for p in gone
            if p.membership.event_id in leaves and leaves[p.membership.event_id].prev_event_ids
        }
        states = await self._stores.state.get_states_after(before.values())
        member_ids = {
            event_id: states.get(prev, {}).get((MEMBER, leaves[event_id].state_key or ""))
            for event_id, prev in before.items()
        }
        members = await self._stores.events.get_events(i for i in member_ids.values() if i is not None)
        for plan in gone:
            member = members.get(member_ids.get(plan.membership.event_id) or "")
            if member is not None and member.content.get("membership") == "join":
                full.append(plan)
        return full

    async def _full_rooms(
        self,
        requester: TokenInfo,
        plans: list[_Plan],
        stamps: Mapping[str, int],
        dm_rooms: frozenset[str],
        room_lists: Mapping[str, list[str]],
        base: Snapshot,
        now: StreamToken,
    ) -> tuple[dict[str, dict[str, Any]], dict[str, SentRoom]]:
        """Joined rooms and rooms the user was in: timeline, required state and summary
        fields, every read made once for all the rooms."""
        user_id = requester.user_id
        by_room = {p.membership.room_id: p for p in plans}
        recents = await self._timelines(plans, now)
        visible = {
            e.event_id for e in await self._visible_to(user_id, [e for r in recents.values() for e in r.events])
        }
        ignored = await self._ignored_users(user_id)
        timelines = {
            room_id: [
                e for e in recents[room_id].events
                if e.event_id in visible and (e.is_state or e.sender not in ignored)
            ]
            for room_id in by_room
        }
        states = await self._states(plans)
        # Member counts and heroes change only with state: a room whose news are all
        # non-state events, with no gap, keeps the ones it was sent.
        kept_summary = {
            room_id for room_id, p in by_room.items()
            if p.sent is not None and not p.initial and not recents[room_id].limited
            and not any(e.is_state for e in recents[room_id].events)
        }
        summarised = [room_id for room_id in by_room if room_id not in kept_summary]
        summaries = await self._summaries.member_summaries(summarised) if summarised else {}
        joined = [room_id for room_id, p in by_room.items() if p.membership.membership == "join"]
        unread = await self._counts.unread(user_id, joined, now.events) if joined else {}

        wanted: dict[str, dict[StateKey, str]] = {}
        stubs: dict[str, list[StateKey]] = {}
        new_state: dict[str, dict[StateKey, str]] = {}
        field_ids: set[str] = set()
        heroes: dict[str, list[str]] = {}
        for room_id, plan in by_room.items():
            state = states.get(room_id, {})
            required = _required_state(plan.config, state, timelines[room_id], user_id)
            had = plan.sent.state if plan.sent is not None and not plan.initial else {}
            wanted[room_id] = {k: v for k, v in required.items() if had.get(k) != v}
            stubs[room_id] = [k for k in had if k not in state]
            new_state[room_id] = {**{k: v for k, v in had.items() if k in state}, **required}
            field_ids.update(state[k] for k in (("m.room.name", ""), ("m.room.avatar", "")) if k in state)
            summary = summaries.get(room_id)
            if summary is not None:
                heroes[room_id] = [u for u, _ in summary.members_in_order if u != user_id][:HERO_COUNT]
                field_ids.update(state[(MEMBER, u)] for u in heroes[room_id] if (MEMBER, u) in state)
        events = await self._stores.events.get_events(
            {*field_ids, *(i for w in wanted.values() for i in w.values())}
        )
        state_events = {room_id: [events[i] for i in w.values() if i in events] for room_id, w in wanted.items()}
        served = iter(await self._serialize(
            [e for room_id in by_room for e in (*timelines[room_id], *state_events[room_id])],
            requester=requester,
            include_room_id=False,
            now_ms=int(self._clock() * 1000),
        ))
        live = await self._live_counts(by_room, timelines, base)

        rooms: dict[str, dict[str, Any]] = {}
        sent: dict[str, SentRoom] = {}
        for room_id, plan in by_room.items():
            m = plan.membership
            timeline = [next(served) for _ in timelines[room_id]]
            required_state = [next(served) for _ in state_events[room_id]]
            required_state += [{"type": t, "state_key": k} for t, k in stubs[room_id]]
            state = states.get(room_id, {})
            summary = summaries.get(room_id)
            fields = _summary_fields(
                state, events, heroes.get(room_id, []), summary.joined_count if summary else 0,
                summary.invited_count if summary else 0,
            )
            if room_id in kept_summary and plan.sent is not None:
                for key in _SUMMARY_FIELDS:
                    fields.pop(key, None)
                    if key in plan.sent.fields:
                        fields[key] = plan.sent.fields[key]
            fields.update(
                is_dm=room_id in dm_rooms,
                bump_stamp=stamps[room_id],
                membership=m.membership,
                lists=room_lists.get(room_id, []),
            )
            if m.membership == "join":
                fields.update(counts_json(sum_counts(list(unread.get(room_id, {}).values()))))
            room: dict[str, Any] = _changed_fields(fields, None if plan.initial or plan.sent is None else plan.sent.fields)
            if plan.initial:
                room["initial"] = True
            if plan.expanded and not plan.initial:
                room["expanded_timeline"] = True
            to_pos = now.events if m.membership == "join" else m.stream_ordering
            if timeline or plan.initial or plan.expanded:
                recent = recents[room_id]
                room["timeline"] = timeline
                room["limited"] = recent.limited
                room["prev_batch"] = (recent.prev_batch or TopologicalToken(0, to_pos)).serialize()
                room["num_live"] = live.get(room_id, 0)
            if required_state:
                room["required_state"] = required_state
            if plan.initial or room:
                rooms[room_id] = room
            sent[room_id] = SentRoom(
                min(to_pos, now.events), m.membership, m.event_id, plan.config, new_state[room_id], fields
            )
        return rooms, sent

    async def _timelines(self, plans: list[_Plan], now: StreamToken) -> dict[str, RecentEvents]:
        """Each room's newest events after where the connection had it, batched by range."""
        groups: dict[tuple[int, int, int], list[str]] = {}
        for plan in plans:
            m = plan.membership
            to_pos = now.events if m.membership == "join" else m.stream_ordering
            groups.setdefault((plan.from_pos, to_pos, plan.config.timeline_limit), []).append(m.room_id)
        recents: dict[str, RecentEvents] = {}
        for (from_pos, to_pos, limit), room_ids in groups.items():
            recents.update(await self._stores.events.get_recent_events_for_rooms(room_ids, from_pos, to_pos, limit))
        return recents

    async def _states(self, plans: list[_Plan]) -> dict[str, dict[StateKey, str]]:
        """The current state of joined rooms; for the others, the state at the user's leave."""
        joined = [p.membership.room_id for p in plans if p.membership.membership == "join"]
        states = await self._stores.state.get_many_current_state_ids(joined) if joined else {}
        gone = {p.membership.event_id: p.membership.room_id for p in plans if p.membership.membership != "join"}
        if gone:
            after = await self._stores.state.get_states_after(gone)
            states.update((room_id, after.get(event_id, {})) for event_id, room_id in gone.items())
        return states

    async def _live_counts(
        self, plans: Mapping[str, _Plan], timelines: Mapping[str, list[Event]], base: Snapshot
    ) -> dict[str, int]:
        """`num_live`: the timeline events newer than what the connection had (none on a
        connection's first response)."""
        if base.token is None:
            return {}
        counts: dict[str, int] = {}
        history: dict[str, int] = {}
        for room_id, plan in plans.items():
            if plan.initial or plan.expanded:
                live_after = plan.sent.events_pos if plan.sent is not None and not plan.initial else base.token.events
                history[room_id] = live_after
            else:
                counts[room_id] = len(timelines[room_id])
        if history:
            meta = await self._stores.events.get_event_meta(e.event_id for r in history for e in timelines[r])
            for room_id, live_after in history.items():
                counts[room_id] = sum(
                    1 for e in timelines[room_id]
                    if (m := meta.get(e.event_id)) is not None and (m.stream_ordering or 0) > live_after
                )
        return counts


def _required_state(
    config: RoomConfig, state: Mapping[StateKey, str], timeline: list[Event], user_id: str
) -> dict[StateKey, str]:
    """The state the room config asks for, lazily loaded members included (MSC4186 "Lazy
    loaded memberships": the senders and targets of the timeline's events)."""
    wanted = {key: event_id for key, event_id in state.items() if config.wants_state(key, user_id)}
    if config.lazy_members and not config.wants_all_of_type(MEMBER):
        members = {e.sender for e in timeline} | {e.state_key for e in timeline if e.type == MEMBER and e.state_key}
        wanted.update(((MEMBER, u), state[(MEMBER, u)]) for u in members if (MEMBER, u) in state)
    return wanted


def _summary_fields(
    state: Mapping[StateKey, str],
    events: Mapping[str, Event],
    heroes: list[str],
    joined_count: int,
    invited_count: int,
) -> dict[str, Any]:
    def content(key: StateKey) -> dict[str, Any]:
        event = events.get(state.get(key, ""))
        return event.content if event is not None else {}

    name = content(("m.room.name", "")).get("name")
    avatar = content(("m.room.avatar", "")).get("url")
    fields: dict[str, Any] = {
        "name": name if isinstance(name, str) and name else None,
        "avatar": avatar if isinstance(avatar, str) and avatar else None,
        "joined_count": joined_count,
        "invited_count": invited_count,
    }
    if fields["name"] is None and heroes:
        # Heroes help name an unnamed room (MSC4186 `heroes`).
        fields["heroes"] = [_hero(u, content((MEMBER, u))) for u in heroes]
    return fields


def _hero(user_id: str, member: dict[str, Any]) -> dict[str, Any]:
    hero: dict[str, Any] = {"user_id": user_id}
    if isinstance(member.get("displayname"), str):
        hero["displayname"] = member["displayname"]
    if isinstance(member.get("avatar_url"), str):
        hero["avatar_url"] = member["avatar_url"]
    return hero


def _changed_fields(fields: Mapping[str, Any], previous: Mapping[str, Any] | None) -> dict[str, Any]:
    """All set fields for an initial room; otherwise only those that changed (a name or
    avatar removed is sent as null, a room no longer in any list as empty `lists`)."""
    if previous is None:
        return {k: v for k, v in fields.items() if v is not None and v != []}
    changed = {k: v for k, v in fields.items() if previous.get(k) != v}
    return {k: v for k, v in changed.items() if v is not None or k in ("name", "avatar")}


def _bump_stamps(candidates: Mapping[str, Membership], activity: Mapping[str, int]) -> dict[str, int]:
    """Joined rooms: their last activity; other rooms: the user's membership change.
    Backfilled history has negative positions, and clients parse `bump_stamp` as unsigned."""
    return {room_id: max(activity.get(room_id, m.stream_ordering), 0) for room_id, m in candidates.items()}


def _membership_changed(sent: SentRoom, membership: Membership) -> bool:
    """Whether the room must be sent again in full: the user's membership changed kind
    (invited → joined, joined → left …), or a new invite or knock replaced the one sent. A
    joined user's profile change is a new member event but no change of membership."""
    if sent.membership != membership.membership:
        return True
    return membership.membership != "join" and sent.membership_event_id != membership.event_id


def _has_news(response: Mapping[str, Any], base: Snapshot, snapshot: Snapshot) -> bool:
    return bool(response["rooms"]) or snapshot.list_counts != base.list_counts or extensions_have_news(
        response["extensions"]
    )

