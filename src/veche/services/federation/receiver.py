"""Receiving PDUs from other servers with every check the spec requires
(server-server-api.md, "Checks performed on receipt of a PDU", "Rejection", "Soft failure").

For each PDU, in the spec's order:

1. format of its room version (`protocol.federation_checks.parse_pdu`) — else dropped;
2. signatures of every server that must sign it — else dropped;
3. content hash — else its redacted copy is what we keep;
4. auth rules against its own auth events, fetched (and checked the same way, as
   outliers) when missing — else rejected;
5. auth rules against the state before it: the state after its prev events, resolved when
   there are several; missing prev events are fetched with /get_missing_events, and when
   the gap is wider the state at them comes from /state_ids — else rejected;
6. auth rules against the room's current state — else soft failed.

Rejected events are stored (they are part of the DAG) but never shown and never change
state; soft-failed ones are stored but neither shown nor made forward extremities.
Accepted events go through the same per-room critical section, after-persist hooks and
sync wake-ups as local ones (`EventSender.room_lock` / `announce`); the room's new current
state is the state after the event when it extends every forward extremity, and otherwise
the resolution of the states after all the forward extremities it leaves standing and
after the event itself (the current state is the resolved state of the extremities).

A hostile peer is bounded everywhere: one PDU's processing has a time limit, gap filling
asks once and does not recurse, and every fetch has a count limit.

Public API (for transactions here, and for joins, invites and backfill elsewhere):

    await receiver.receive_pdu(origin, pdu_json)          # all checks; PduError if dropped
    await receiver.import_outliers(origin, room_id, room_version, pdu_jsons)
        # checked outliers (auth chains, state from /send_join or /state); returns them
    await receiver.receive_backfilled(origin, room_id, pdu_jsons)
        # history from /backfill: checks 1-5, stored below the live stream; returns the
        # events that joined the timeline
    await receiver.persist_with_state(event, state_before)
        # an already checked event whose state before it is known (e.g. our join from
        # /send_join): persisted, made current, announced
"""

from __future__ import annotations

import asyncio
import heapq
import logging
from collections.abc import Iterable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Any

from veche.protocol.auth_rules import (
    CREATE_KEY,
    AuthError,
    auth_types_for_event,
    check_auth_event_list,
    check_auth_rules,
)
from veche.protocol.events import Event, StateKey
from veche.protocol.federation_checks import InvalidPdu, parse_pdu, room_id_of
from veche.protocol.room_versions import RoomVersion
from veche.protocol.signing import SignatureError
from veche.protocol.state_res import StateResolutionError, resolve_state
from veche.services.federation.acl import ServerAclChecker
from veche.services.federation.client import FederationError
from veche.services.federation.event_checks import EventVerifier
from veche.services.federation.missing_events import RemoteEvents
from veche.services.keyed_lock import KeyedLock
from veche.services.rooms.sending import EventSender
from veche.storage.stores import EventStores

logger = logging.getLogger(__name__)

# One PDU, with everything fetched for it, must be done within this time.
PDU_TIMEOUT_SECONDS = 120.0
# /get_missing_events asks for at most this many events (as Synapse does); a wider gap
# is bridged with the state at the missing prev events instead.
MISSING_EVENTS_LIMIT = 10
# Events fetched one by one (/event) to learn the state at one prev event.
MAX_STATE_FETCH = 5_000
MAX_AUTH_CHAIN_FETCH = 5_000
FETCH_CONCURRENCY = 10

StateBefore = int | dict[StateKey, str]
"""A snapshot nid (the state after the single prev event) or a full state map."""


class PduError(Exception):
    """The PDU was dropped; `reason` goes into the transaction's answer."""

    def __init__(self, reason: str, event_id: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.event_id = event_id


class PduReceiver:
    def __init__(
        self,
        *,
        stores: EventStores,
        sender: EventSender,
        verifier: EventVerifier,
        remote: RemoteEvents,
        acl: ServerAclChecker,
    ) -> None:
        self._stores = stores
        self._sender = sender
        self._verifier = verifier
        self._remote = remote
        self._acl = acl
        # Received PDUs of one room are handled one at a time; local sends only wait for
        # the final persist (the sender's lock), not for our fetches.
        self._receive_locks = KeyedLock()

    async def parse(self, pdu: Any) -> Event:
        """The event a received PDU holds, in its room's version; PduError if malformed."""
        room_id = room_id_of(pdu)
        claimed_id = pdu.get("event_id") if isinstance(pdu, dict) else None
        claimed_id = claimed_id if isinstance(claimed_id, str) else None
        if room_id is None:
            raise PduError("PDU has no room_id", claimed_id)
        room_version = await self._stores.rooms.get_room_version(room_id)
        if room_version is None:
            raise PduError(f"this server is not in room {room_id}", claimed_id)
        try:
            return parse_pdu(pdu, room_version)
        except InvalidPdu as e:
            raise PduError(f"invalid event: {e}", claimed_id) from None

    async def receive_pdu(self, origin: str, pdu: Any) -> Event:
        """Check, authorise and store one PDU of a transaction from `origin`.

        Returns the event (rejected_reason set if it was rejected); raises PduError if
        it was dropped.
        """
        return await self.receive_event(origin, await self.parse(pdu))

    async def receive_event(self, origin: str, event: Event) -> Event:
        """`receive_pdu` for an already parsed event; returns it as stored (possibly redacted)."""
        room_id = event.room_id
        for server in (origin, _server_of(event.sender)):
            if not await self._acl.is_allowed(room_id, server):
                raise PduError(f"{server} is denied by the room's server ACL", event.event_id)
        async with self._receive_locks.hold(room_id):
            if not await self._stores.events.get_forward_extremities(room_id):
                raise PduError(f"this server is not in room {room_id}", event.event_id)
            try:
                async with asyncio.timeout(PDU_TIMEOUT_SECONDS):
                    return await self._process(origin, event, fill_gaps=True)
            except TimeoutError:
                raise PduError("timed out fetching what the event needs", event.event_id) from None

    def joining(self, room_id: str) -> AbstractAsyncContextManager[None]:
        """Held while this server joins the room, so PDUs the resident servers send
        meanwhile wait for the join rather than being dropped as not ours."""
        return self._receive_locks.hold(room_id)

    async def import_outliers(
        self, origin: str, room_id: str, room_version: RoomVersion, pdus: Iterable[Any]
    ) -> dict[str, Event]:
        """Check and store PDUs as outliers (checks 1–4), auth events before the events
        citing them; returns every stored one by ID (rejected ones with their reason).

        Malformed, badly signed or foreign-room PDUs and those whose auth events are
        nowhere to be found are dropped.
        """
        parsed = _parse_room_pdus(origin, room_id, room_version, pdus)
        held = await self._stores.events.have_events(parsed)
        todo = {event_id: event for event_id, event in parsed.items() if event_id not in held}
        stored = await self._stores.events.get_events(held)
        # Auth events already held, read at once; those stored below join as they are.
        known = await self._stores.events.get_events(
            {auth_id for event in todo.values() for auth_id in event.auth_event_ids}
        )
        for event in _auth_order(todo):
            try:
                event = await self._verifier.verify(event)
            except SignatureError as e:
                logger.info("Dropping %s from %s: %s", event.event_id, origin, e)
                continue
            auth = {auth_id: known[auth_id] for auth_id in event.auth_event_ids if auth_id in known}
            if len(auth) != len(set(event.auth_event_ids)):
                logger.info("Dropping %s: some of its auth events are unknown", event.event_id)
                continue
            create = await self._create_event(event, auth.values())
            if create is None and event.type != "m.room.create":
                continue
            event.rejected_reason = _auth_against_own_auth_events(event, auth, create)
            await self._stores.events.persist_event(event, outlier=True)
            stored[event.event_id] = known[event.event_id] = event
        return stored

    async def receive_backfilled(self, origin: str, room_id: str, pdus: Iterable[Any]) -> list[Event]:
        """Check and store history `origin` sent from /backfill; returns the events that
        newly joined the timeline (rejected ones included), oldest first.

        Each goes through checks 1–5 like a received PDU, with the state before it from
        its stored prev events, or from `origin` (/state_ids) when it lacks them. It is
        not checked against the current state (it is history, not news), and it is stored
        below the live stream: no forward extremities, current state, hooks or sync
        wake-ups.
        """
        room_version = await self._stores.rooms.get_room_version(room_id)
        if room_version is None:
            return []
        parsed = _parse_room_pdus(origin, room_id, room_version, pdus)
        pending = _PendingHistory()
        async with self._receive_locks.hold(room_id):
            metas = await self._stores.events.get_event_meta(parsed)
            todo = [e for e in parsed.values() if e.event_id not in metas or metas[e.event_id].outlier]
            # Oldest first, so each finds the ones before it already checked.
            for event in sorted(todo, key=lambda e: (e.depth, e.event_id)):
                try:
                    await self._process_backfilled(origin, event, pending)
                except PduError as e:
                    logger.info("Dropping backfilled event %s from %s: %s", event.event_id, origin, e.reason)
            await self._persist_history(pending)
        return pending.stored

    async def persist_with_state(self, event: Event, state_before: StateBefore) -> None:
        """Persist an accepted event whose state before it is known, make the state after
        it current, and announce it (hooks, syncs)."""
        async with self._sender.room_lock(event.room_id):
            persisted = await self._stores.events.persist_event(
                event, state_before=state_before, advance_current_state=True
            )
        await self._sender.announce(event, persisted.stream_ordering)

    # The steps

    async def _process(self, origin: str, event: Event, *, fill_gaps: bool) -> Event:
        meta = (await self._stores.events.get_event_meta([event.event_id])).get(event.event_id)
        if meta is not None and not meta.outlier:
            event.rejected_reason = meta.rejected_reason
            return event
        event, create, rejected = await self._check_against_auth_events(origin, event)
        state_before = await self._state_before(origin, event, fill_gaps=fill_gaps)
        if rejected is None:
            rejected = await self._auth_against(event, state_before, create)
        event.rejected_reason = rejected
        await self._persist(event, state_before, create)
        return event

    async def _process_backfilled(self, origin: str, event: Event, pending: _PendingHistory) -> None:
        """Check a backfilled event and add it to `pending`. An event built on a single
        pending one is judged by the state after it (its stored base plus the batch's
        changes); one that needs a pending event read from the store has them persisted first."""
        prev_ids = list(dict.fromkeys(event.prev_event_ids))
        if any(a in pending.events for a in event.auth_event_ids) or (
            len(prev_ids) > 1 and any(p in pending.events for p in prev_ids)
        ):
            await self._persist_history(pending)
        event, create, rejected = await self._check_against_auth_events(origin, event)
        layered = pending.after.get(prev_ids[0]) if len(prev_ids) == 1 else None
        spec: StateBefore | None
        if layered is not None:
            base, changes = layered
            spec = None
        else:
            snapshots = await self._stores.state.get_snapshots_after(prev_ids)
            if len(snapshots) == len(prev_ids):
                base = await self._state_before(origin, event, fill_gaps=False)
            else:
                # Older history than this server holds: only `origin` knows the state there.
                base = await self._remote_state_at(origin, event, event.event_id)
            changes, spec = {}, base
        if rejected is None:
            rejected = await self._auth_against(event, base, create, changes, pending.events)
        event.rejected_reason = rejected
        if rejected is None and event.is_state:
            changes = {**changes, event.state_tuple: event.event_id}
        pending.add(event, spec, base, changes)

    async def _persist_history(self, pending: _PendingHistory) -> None:
        if pending.items:
            await self._stores.events.persist_backfilled(pending.items)
            pending.persisted()

    async def _check_against_auth_events(self, origin: str, event: Event) -> tuple[Event, Event | None, str | None]:
        """Checks 2–4: the event as kept (redacted if its hash is wrong), the room's create
        event, and why its own auth events reject it (None if they allow it)."""
        try:
            event = await self._verifier.verify(event)
        except SignatureError as e:
            raise PduError(f"signature check failed: {e}", event.event_id) from None
        auth_events = await self._auth_events(origin, event)
        create = await self._create_event(event, auth_events.values())
        if create is None and event.room_version.room_id_from_create_event:
            raise PduError("the room's create event is unknown", event.event_id)
        return event, create, _auth_against_own_auth_events(event, auth_events, create)

    async def _auth_events(self, origin: str, event: Event) -> dict[str, Event]:
        wanted = set(event.auth_event_ids)
        found = await self._stores.events.get_events(wanted)
        if len(found) < len(wanted):
            try:
                chain = await self._remote.get_event_auth(origin, event.room_id, event.event_id)
            except FederationError as e:
                raise PduError(f"cannot fetch the auth events: {e}", event.event_id) from None
            await self.import_outliers(origin, event.room_id, event.room_version, chain[:MAX_AUTH_CHAIN_FETCH])
            found = await self._stores.events.get_events(wanted)
            if len(found) < len(wanted):
                raise PduError("some auth events could not be found", event.event_id)
        return found

    async def _create_event(self, event: Event, auth_events: Iterable[Event]) -> Event | None:
        """The room's create event, which the auth rules always need (v12 does not cite it)."""
        if event.type == "m.room.create":
            return event
        for auth_event in auth_events:
            if auth_event.type == "m.room.create" and auth_event.state_key == "":
                return auth_event
        if event.room_version.room_id_from_create_event:
            create = await self._stores.events.get_event("$" + event.room_id[1:])
            if create is not None and create.type == "m.room.create" and create.rejected_reason is None:
                return create
        return None

    async def _state_before(self, origin: str, event: Event, *, fill_gaps: bool) -> StateBefore:
        prev_ids = list(dict.fromkeys(event.prev_event_ids))
        if not prev_ids:
            return {}
        snapshots = await self._stores.state.get_snapshots_after(prev_ids)
        if len(snapshots) < len(prev_ids) and fill_gaps:
            await self._fill_gap(origin, event)
            snapshots = await self._stores.state.get_snapshots_after(prev_ids)
        if len(prev_ids) == 1 and snapshots:
            return snapshots[prev_ids[0]]
        state_sets: list[dict[StateKey, str]] = []
        for snapshot_nid in set(snapshots.values()):
            state_sets.append(await self._stores.state.get_snapshot_state_ids(snapshot_nid))
        for prev_id in prev_ids:
            if prev_id not in snapshots:
                state_sets.append(await self._remote_state_after(origin, event, prev_id))
        return await self._resolve(event, state_sets)

    async def _fill_gap(self, origin: str, event: Event) -> None:
        """Ask `origin` once for the events between our forward extremities and `event`,
        and process them oldest first; those still lacking prev events get their state
        from /state_ids rather than another round of gap filling."""
        extremities = await self._stores.events.get_forward_extremities(event.room_id)
        metas = await self._stores.events.get_event_meta(extremities)
        min_depth = min((meta.depth for meta in metas.values()), default=0)
        try:
            pdus = await self._remote.get_missing_events(
                origin,
                event.room_id,
                earliest=extremities,
                latest=[event.event_id],
                limit=MISSING_EVENTS_LIMIT,
                min_depth=min_depth,
            )
        except FederationError as e:
            logger.info("get_missing_events from %s failed: %s", origin, e)
            return
        missing: list[Event] = []
        for pdu in pdus:
            try:
                missing.append(parse_pdu(pdu, event.room_version))
            except InvalidPdu as e:
                logger.info("Dropping a malformed missing event from %s: %s", origin, e)
        for found in sorted(missing, key=lambda e: e.depth):
            if found.room_id != event.room_id or found.event_id == event.event_id:
                continue
            try:
                await self._process(origin, found, fill_gaps=False)
            except PduError as e:
                logger.info("Dropping missing event %s from %s: %s", found.event_id, origin, e.reason)

    async def _remote_state_after(self, origin: str, event: Event, prev_id: str) -> dict[StateKey, str]:
        """The state after a prev event we lack, as `origin` says it is: the state at it
        plus the prev event itself, checked as an outlier."""
        state = await self._remote_state_at(origin, event, prev_id, also=[prev_id])
        prev = await self._stores.events.get_event(prev_id)
        if prev is None:
            raise PduError(f"prev event {prev_id} could not be fetched", event.event_id)
        if prev.is_state and prev.rejected_reason is None and prev.room_id == event.room_id:
            state[prev.state_tuple] = prev_id
        return state

    async def _remote_state_at(
        self, origin: str, event: Event, at_id: str, also: Sequence[str] = ()
    ) -> dict[StateKey, str]:
        """The state before event `at_id` as `origin` says it is (/state_ids), its events
        (and those in `also`) fetched and checked as outliers when we lack them."""
        try:
            answer = await self._remote.get_state_ids(origin, event.room_id, at_id)
        except FederationError as e:
            raise PduError(f"cannot fetch the state at {at_id}: {e}", event.event_id) from None
        wanted = {*also, *answer.pdu_ids, *answer.auth_chain_ids}
        missing = wanted - await self._stores.events.have_events(wanted)
        if len(missing) > MAX_STATE_FETCH:
            raise PduError(f"the state at {at_id} is too large to fetch", event.event_id)
        pdus = await self._fetch_events(origin, missing)
        await self.import_outliers(origin, event.room_id, event.room_version, pdus)
        events = await self._stores.events.get_events(answer.pdu_ids)
        state: dict[StateKey, str] = {}
        for state_id in answer.pdu_ids:
            state_event = events.get(state_id)
            if state_event is not None and state_event.is_state and state_event.room_id == event.room_id:
                state[state_event.state_tuple] = state_id
        return state

    async def _fetch_events(self, origin: str, event_ids: Iterable[str]) -> list[dict[str, Any]]:
        limit = asyncio.Semaphore(FETCH_CONCURRENCY)

        async def fetch(event_id: str) -> dict[str, Any] | None:
            async with limit:
                try:
                    return await self._remote.get_event(origin, event_id)
                except FederationError as e:
                    logger.info("Cannot fetch %s from %s: %s", event_id, origin, e)
                    return None

        fetched = await asyncio.gather(*(fetch(event_id) for event_id in sorted(event_ids)))
        return [pdu for pdu in fetched if pdu is not None]

    async def _resolve(self, event: Event, state_sets: Sequence[Mapping[StateKey, str]]) -> dict[StateKey, str]:
        distinct = {tuple(sorted(s.items())): s for s in state_sets}
        if len(distinct) <= 1:
            return dict(next(iter(distinct.values()), {}))
        ids = {event_id for s in distinct.values() for event_id in s.values()}
        ids |= await self._stores.events.get_auth_chain_ids(ids)
        event_map = await self._stores.events.get_events(ids)
        # The state after an event not yet stored names the event itself.
        event_map.setdefault(event.event_id, event)
        for auth_id in await self._stores.events.get_auth_chain_ids(event.auth_event_ids) | set(event.auth_event_ids):
            if auth_id not in event_map:
                event_map.update(await self._stores.events.get_events([auth_id]))
        try:
            return resolve_state(event.room_version, list(distinct.values()), event_map)
        except StateResolutionError as e:
            raise PduError(f"state resolution failed: {e}", event.event_id) from None

    async def _auth_against(
        self,
        event: Event,
        state: StateBefore,
        create: Event | None,
        changes: Mapping[StateKey, str] | None = None,
        unstored: Mapping[str, Event] | None = None,
    ) -> str | None:
        """Check 5 (and 6, given the current state): None if allowed, else the reason.

        `changes` overrides entries of `state`, naming events the store may not hold yet
        but `unstored` does."""
        keys = [CREATE_KEY, *auth_types_for_event(
            event.room_version, event.type, event.state_key, event.sender, event.content
        )]
        if isinstance(state, int):
            picked = await self._stores.state.pick_snapshot_ids(state, keys)
        else:
            picked = {key: state[key] for key in keys if key in state}
        if changes:
            picked.update((key, changes[key]) for key in keys if key in changes)
        unstored = unstored or {}
        events = await self._stores.events.get_events(i for i in picked.values() if i not in unstored)
        events.update((i, unstored[i]) for i in picked.values() if i in unstored)
        auth_state = {key: events[event_id] for key, event_id in picked.items() if event_id in events}
        if create is not None and event.type != "m.room.create":
            auth_state.setdefault(CREATE_KEY, create)
        try:
            check_auth_rules(event, auth_state)
        except AuthError as e:
            return e.reason
        return None

    async def _persist(self, event: Event, state_before: StateBefore, create: Event | None) -> None:
        room_id = event.room_id
        async with self._sender.room_lock(room_id):
            current = await self._stores.state.get_current_state_ids(room_id)
            soft_failed = False
            if event.rejected_reason is None:
                reason = await self._auth_against(event, current, create)
                if reason is not None:
                    logger.info("Soft failing %s: %s", event.event_id, reason)
                    soft_failed = True
            accepted = event.rejected_reason is None and not soft_failed
            new_current = None
            if accepted:
                others = set(await self._stores.events.get_forward_extremities(room_id)) - set(event.prev_event_ids)
                if others:
                    new_current = await self._state_of_extremities(event, state_before, others)
            persisted = await self._stores.events.persist_event(
                event,
                state_before=state_before,
                soft_failed=soft_failed,
                advance_current_state=accepted,
                current_state=new_current,
            )
        if accepted:
            await self._sender.announce(event, persisted.stream_ordering)


    async def _state_of_extremities(
        self, event: Event, state_before: StateBefore, others: Iterable[str]
    ) -> dict[StateKey, str]:
        """The room's current state once `event` joins the forward extremities `others`
        (those it does not cite): the resolution of the states after all of them, as the
        spec defines the current state ("Room State Resolution"). Branches that agree
        cost no resolution."""
        after = dict(
            await self._stores.state.get_snapshot_state_ids(state_before)
            if isinstance(state_before, int)
            else state_before
        )
        if event.is_state:
            after[event.state_tuple] = event.event_id
        states = [after]
        for snapshot_nid in set((await self._stores.state.get_snapshots_after(others)).values()):
            states.append(await self._stores.state.get_snapshot_state_ids(snapshot_nid))
        return await self._resolve(event, states)


@dataclass(slots=True)
class _PendingHistory:
    """Backfilled events checked and waiting to be persisted together, oldest first."""

    # Each with the state before it, None for "the state after its (pending) prev event".
    items: list[tuple[Event, StateBefore | None]] = field(default_factory=list)
    events: dict[str, Event] = field(default_factory=dict)
    # Event ID → the state after it: a stored state and the pending events' changes to it.
    after: dict[str, tuple[StateBefore, dict[StateKey, str]]] = field(default_factory=dict)
    # Every event persisted so far, oldest first.
    stored: list[Event] = field(default_factory=list)

    def add(self, event: Event, spec: StateBefore | None, base: StateBefore, changes: dict[StateKey, str]) -> None:
        self.items.append((event, spec))
        self.events[event.event_id] = event
        self.after[event.event_id] = (base, changes)

    def persisted(self) -> None:
        self.stored += [event for event, _ in self.items]
        self.items.clear()
        self.events.clear()
        self.after.clear()


def _auth_against_own_auth_events(event: Event, auth_events: Mapping[str, Event], create: Event | None) -> str | None:
    """Check 4: None if allowed by the event's own auth events, else the reason."""
    cited = [auth_events[event_id] for event_id in dict.fromkeys(event.auth_event_ids)]
    try:
        check_auth_event_list(event, cited)
        state = {e.state_tuple: e for e in cited}
        if create is not None and event.type != "m.room.create":
            state.setdefault(CREATE_KEY, create)
        check_auth_rules(event, state)
    except AuthError as e:
        return e.reason
    return None


def _parse_room_pdus(origin: str, room_id: str, room_version: RoomVersion, pdus: Iterable[Any]) -> dict[str, Event]:
    """The well-formed PDUs of `room_id` among `pdus`, by event ID; the rest are dropped."""
    parsed: dict[str, Event] = {}
    for pdu in pdus:
        try:
            event = parse_pdu(pdu, room_version)
        except InvalidPdu as e:
            logger.info("Dropping a malformed event from %s: %s", origin, e)
            continue
        if event.room_id == room_id:
            parsed[event.event_id] = event
    return parsed


def _auth_order(events: Mapping[str, Event]) -> list[Event]:
    """`events` with each after the ones among them it cites as auth events, the create
    event first (v12 events do not cite it) and otherwise by depth; events in an auth
    cycle (only a forger makes those) are left out."""
    waiting = {event_id: {a for a in e.auth_event_ids if a in events} for event_id, e in events.items()}
    cited_by: dict[str, list[str]] = {}
    for event_id, deps in waiting.items():
        for dep in deps:
            cited_by.setdefault(dep, []).append(event_id)

    def rank(event_id: str) -> tuple[bool, int, str]:
        event = events[event_id]
        return (event.type != "m.room.create", event.depth, event_id)

    ready = [rank(event_id) for event_id, deps in waiting.items() if not deps]
    heapq.heapify(ready)
    ordered: list[Event] = []
    while ready:
        event_id = heapq.heappop(ready)[2]
        ordered.append(events[event_id])
        for child in cited_by.get(event_id, ()):
            waiting[child].discard(event_id)
            if not waiting[child]:
                heapq.heappush(ready, rank(child))
    return ordered


def _server_of(user_id: str) -> str:
    return user_id.split(":", 1)[1] if ":" in user_id else ""
