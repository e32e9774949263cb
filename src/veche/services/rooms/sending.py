"""Creating local events: one room at a time, from prev events to notified clients.

Inside a room's critical section the sender picks the room's forward extremities as
prev_events, the current state's auth events, builds, hashes and signs the PDU,
authorises it against the room's current state, and persists it together with the new
state and whatever must survive with it (push actions, the client transaction ID) in one
transaction: one durable commit per send. Rooms proceed in parallel; events of one room
are strictly ordered.
"""

from __future__ import annotations

import asyncio
import secrets
import string
import time
from collections.abc import Awaitable, Callable, Hashable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any, Protocol

from veche.errors import MatrixError, forbidden, not_found
from veche.protocol.auth_rules import CREATE_KEY, AuthError, auth_types_for_event, check_auth_rules
from veche.protocol.canonical_json import CanonicalJsonError
from veche.protocol.event_ids import compute_event_id
from veche.protocol.events import Event, StateKey
from veche.protocol.hashing import add_hashes_and_signatures
from veche.protocol.limits import EventTooLarge, check_pdu_size
from veche.protocol.room_versions import EventFormat, RoomVersion
from veche.protocol.signing import SigningKey
from veche.services.keyed_lock import KeyedLock
from veche.services.notifier import Notifier
from veche.services.rooms.members import LocalMembers
from veche.services.streams import Stream
from veche.storage.events import AlongsideWrites, Statements
from veche.storage.interning import AfterCommit
from veche.storage.stores import EventStores

EventHook = Callable[[Event, int], Awaitable[None]]
"""Called with a newly persisted timeline event and its stream position."""

# A new event cites at most this many forward extremities (as Synapse does), so a room
# with many concurrent branches converges over a few events instead of one huge one.
MAX_PREV_EVENTS = 10
MAX_DEPTH = 2**63 - 1
# Events of one room built and persisted in one transaction, at most.
MAX_QUEUED_BATCH = 100


@dataclass(frozen=True, slots=True)
class EventDraft:
    """What a local user asks to send."""

    type: str
    content: dict[str, Any]
    state_key: str | None = None
    redacts: str | None = None
    # An application service's `ts` (timestamp massaging); None: now.
    origin_server_ts: int | None = None


@dataclass(frozen=True, slots=True)
class Alongside:
    """What a companion wants done with one local event."""

    writes: AlongsideWrites | None = None  # committed in the event's own transaction
    then: Callable[[], Awaitable[None]] | None = None  # after that commit, before the announcement


class EventCompanion(Protocol):
    """Work that must commit with every event (push actions): in the event's own
    transaction for events this server creates, right after it for received ones."""

    async def prepare(self, events: Sequence[Event]) -> list[Alongside | None]:
        """For local events about to be persisted in this order into one room: what to do
        with each (one entry per event)."""

    def committed(self, events: Sequence[Event]) -> None:
        """They have committed and the room's critical section is still held: drop what
        the companion cached about the room that they change."""

    async def on_received(self, event: Event, stream_ordering: int) -> None:
        """An event persisted outside `send` (received over federation) has committed."""


class InitialEventRefused(Exception):
    """One of a new room's initial events was refused; the room was not created."""

    def __init__(self, draft: EventDraft, error: MatrixError) -> None:
        super().__init__(error.message)
        self.draft = draft
        self.error = error


RecordWrites = Callable[[Event], Statements]
"""Given a built event, statements to commit with it (e.g. its client transaction ID)."""

SentWith = Callable[[list[Any]], Awaitable[Mapping[Any, str]]]
"""Of these keys, the ones used already: key → the event ID sent with it."""


@dataclass(frozen=True, slots=True)
class Once:
    """Send at most once per `key`; `sent_with` looks up the keys of a whole batch of
    queued sends in one go. The caller keeps two sends with one key from overlapping, and
    records the key in the event's own transaction (`record`)."""

    key: Hashable
    sent_with: SentWith


@dataclass(slots=True)
class _Queued:
    sender: str
    draft: EventDraft
    # The event sent, or the ID of the one sent before with the same `once` key.
    result: asyncio.Future[Event | str]
    record: RecordWrites | None = None
    once: Once | None = None

_Then = list[Callable[[], Awaitable[None]]]


class EventSender:
    def __init__(
        self,
        *,
        server_name: str,
        signing_key: SigningKey,
        stores: EventStores,
        notifier: Notifier,
        members: LocalMembers,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._server_name = server_name
        self._signing_key = signing_key
        self._stores = stores
        self._notifier = notifier
        self._members = members
        self._clock = clock
        self._room_locks = KeyedLock()
        self._queues: dict[str, list[_Queued]] = {}
        self._drainers: dict[str, asyncio.Future[None]] = {}
        self._announcing: set[asyncio.Future[None]] = set()
        # Work whose writes commit with each event (push actions), see EventCompanion.
        self.companions: list[EventCompanion] = []
        # Work that must see each new event before the syncs it wakes read it (the
        # federation outbox, indexes …). Hooks run in registration order.
        self.after_persist: list[EventHook] = []

    def now_ms(self) -> int:
        return int(self._clock() * 1000)

    async def create_room(
        self,
        creator: str,
        room_version: RoomVersion,
        content: dict[str, Any],
        initial: Sequence[EventDraft] = (),
    ) -> Event:
        """Persist a new room's create event, then `initial` from the creator, each built on
        the one before, in one transaction, and return the create event (in v12 the room's
        ID follows from it). If one of `initial` is refused, nothing is persisted
        (InitialEventRefused)."""
        pdu: dict[str, Any] = {
            "type": "m.room.create",
            "state_key": "",
            "sender": creator,
            "content": content,
            "origin_server_ts": self.now_ms(),
            "depth": 1,
            "prev_events": [],
            "auth_events": [],
        }
        if not room_version.room_id_from_create_event:
            pdu["room_id"] = self._new_room_id()
        while True:
            create = self._finish(dict(pdu), room_version)
            check_auth_rules(create, {})
            events = await self._build_initial(create, room_version, creator, initial)
            async with self._room_locks.hold(create.room_id):
                # From v12 the room ID is the create event's hash: the same creator and
                # content within one millisecond would name an existing room, and persisting
                # a known event is a no-op. Such a create event moves to the next millisecond.
                if not await self._stores.events.have_events([create.event_id]):
                    prepared = await self._prepare(events, [None] * len(events))
                    persisted = await self._stores.events.persist_event_chain(
                        events, state_before={}, alongside=[writes for writes, _ in prepared]
                    )
                    self._committed(events)
                    break
            pdu["origin_server_ts"] += 1
        for event, p, (_, then) in zip(events, persisted, prepared):
            await self._announce(event, p.stream_ordering, then)
        return create

    async def _build_initial(
        self, create: Event, room_version: RoomVersion, creator: str, initial: Sequence[EventDraft]
    ) -> list[Event]:
        """The create event and `initial` built on it; their auth events are all among them,
        so this reads nothing."""
        events = [create]
        state_ids = {create.state_tuple: create.event_id}
        new_events = {create.event_id: create}
        for draft in initial:
            try:
                event = await self._build(
                    create.room_id, room_version, creator, draft, events[-1:], state_ids, new_events
                )
            except MatrixError as e:
                raise InitialEventRefused(draft, e) from None
            events.append(event)
            new_events[event.event_id] = event
            if event.is_state:
                state_ids[event.state_tuple] = event.event_id
        return events

    async def send(
        self, room_id: str, sender: str, draft: EventDraft, *, record: RecordWrites | None = None
    ) -> Event:
        """Build, authorise and persist one event; raises MatrixError if it is refused.

        Sends into one room queue up: whoever next holds the room's critical section builds
        every queued event, each on the one before, and persists them in one transaction,
        so a busy room pays one commit for many events. `record` adds writes that must
        commit with the event. The event is announced (hooks run, syncs woken) before this
        returns, even if the caller has gone away meanwhile.
        """
        event = await self._enqueue(room_id, _Queued(sender, draft, self._future(), record))
        assert isinstance(event, Event)  # only a send with `once` answers with an earlier ID
        return event

    async def send_once(
        self, room_id: str, sender: str, draft: EventDraft, once: Once, *, record: RecordWrites
    ) -> str:
        """`send`, unless `once.key` was used already: then the ID of the event sent with it.

        The keys of the sends queued together are looked up in one statement, inside the
        room's critical section, right before the batch is built."""
        result = await self._enqueue(room_id, _Queued(sender, draft, self._future(), record, once))
        return result.event_id if isinstance(result, Event) else result

    @staticmethod
    def _future() -> asyncio.Future[Event | str]:
        return asyncio.get_running_loop().create_future()

    async def _enqueue(self, room_id: str, queued: _Queued) -> Event | str:
        self._queues.setdefault(room_id, []).append(queued)
        if room_id not in self._drainers:
            self._drainers[room_id] = asyncio.ensure_future(self._drain(room_id))
        return await queued.result

    async def _drain(self, room_id: str) -> None:
        while True:
            async with self._room_locks.hold(room_id):
                queue = self._queues.get(room_id)
                if not queue:
                    # Nothing can be queued between this check and the drainer leaving.
                    self._queues.pop(room_id, None)
                    del self._drainers[room_id]
                    return
                batch = queue[:MAX_QUEUED_BATCH]
                del queue[:MAX_QUEUED_BATCH]
                try:
                    persisted = await self._persist_queued(room_id, batch)
                except BaseException as e:
                    for queued in batch:
                        if not queued.result.done():
                            queued.result.set_exception(e)
                    if not isinstance(e, Exception):
                        raise
                    continue
            for queued, event, stream_ordering, then in persisted:
                task = asyncio.ensure_future(self._announce_queued(queued, event, stream_ordering, then))
                self._announcing.add(task)
                task.add_done_callback(self._announcing.discard)

    async def _announce_queued(
        self, queued: _Queued, event: Event, stream_ordering: int | None, then: _Then
    ) -> None:
        try:
            await self._announce(event, stream_ordering, then)
        except Exception as e:
            queued.result.set_exception(e)
        else:
            queued.result.set_result(event)

    async def _persist_queued(
        self, room_id: str, batch: list[_Queued]
    ) -> list[tuple[_Queued, Event, int | None, _Then]]:
        """Build and authorise each queued draft on top of the previous accepted one, then
        persist the accepted ones together with what must commit with them; refused
        drafts get their error at once."""
        batch = await self._unsent(batch)
        if not batch:
            return []
        room_version = await self._stores.rooms.get_room_version(room_id)
        if room_version is None:
            raise not_found(f"Unknown room {room_id}")
        extremities = await self._stores.events.get_forward_extremities(room_id)
        if not extremities:
            raise forbidden(f"This server does not participate in {room_id}")
        prev_events = await self._stores.events.get_events(extremities)
        prev = sorted(prev_events.values(), key=lambda e: e.depth, reverse=True)[:MAX_PREV_EVENTS]
        state_ids = dict(await self._stores.state.get_current_state_ids(room_id))
        state_before: int | Mapping[StateKey, str]
        if len(extremities) == 1 and prev:
            snapshot = await self._stores.state.get_snapshot_after(prev[0].event_id)
            state_before = snapshot if snapshot is not None else dict(state_ids)
        else:
            state_before = dict(state_ids)

        built: list[tuple[_Queued, Event]] = []
        new_events: dict[str, Event] = {}
        for queued in batch:
            try:
                event = await self._build(room_id, room_version, queued.sender, queued.draft, prev, state_ids, new_events)
            except MatrixError as e:
                queued.result.set_exception(e)
                continue
            built.append((queued, event))
            prev = [event]
            new_events[event.event_id] = event
            if event.is_state:
                state_ids[event.state_tuple] = event.event_id
        if not built:
            return []
        events = [e for _, e in built]
        prepared = await self._prepare(events, [queued.record for queued, _ in built])
        persisted = await self._stores.events.persist_event_chain(
            events, state_before=state_before, alongside=[writes for writes, _ in prepared]
        )
        self._committed(events)
        return [
            (queued, event, p.stream_ordering, then)
            for (queued, event), p, (_, then) in zip(built, persisted, prepared)
        ]

    @staticmethod
    async def _unsent(batch: list[_Queued]) -> list[_Queued]:
        """Answer the queued sends whose `once` key was used with the event sent with it;
        the others are still to send."""
        by_lookup: dict[SentWith, list[tuple[_Queued, Once]]] = {}
        for queued in batch:
            if queued.once is not None:
                by_lookup.setdefault(queued.once.sent_with, []).append((queued, queued.once))
        answered: set[int] = set()
        for sent_with, group in by_lookup.items():
            known = await sent_with([once.key for _, once in group])
            for queued, once in group:
                if once.key in known:
                    answered.add(id(queued))
                    if not queued.result.done():
                        queued.result.set_result(known[once.key])
        return [queued for queued in batch if id(queued) not in answered] if answered else batch

    async def _prepare(
        self, events: list[Event], records: list[RecordWrites | None]
    ) -> list[tuple[AlongsideWrites | None, _Then]]:
        """For each event about to be persisted: the writes to commit with it (its record's
        and the companions'), and what to run once they have committed."""
        per_companion = [await companion.prepare(events) for companion in self.companions]
        prepared: list[tuple[AlongsideWrites | None, _Then]] = []
        for i, (event, record) in enumerate(zip(events, records)):
            alongside = [p[i] for p in per_companion if p[i] is not None]
            writes = [a.writes for a in alongside if a.writes is not None]
            own = record(event) if record is not None else []
            prepared.append((
                _joined_writes(own, writes) if own or writes else None,
                [a.then for a in alongside if a.then is not None],
            ))
        return prepared

    def _committed(self, events: list[Event]) -> None:
        """Still in the room's critical section: the next batch must see these events'
        effect on the room's members."""
        for event in events:
            if event.type == "m.room.member":
                self._members.invalidate(event.room_id)
        for companion in self.companions:
            companion.committed(events)

    async def _build(
        self,
        room_id: str,
        room_version: RoomVersion,
        sender: str,
        draft: EventDraft,
        prev: list[Event],
        state_ids: Mapping[StateKey, str],
        new_events: Mapping[str, Event],
    ) -> Event:
        auth_keys = auth_types_for_event(room_version, draft.type, draft.state_key, sender, draft.content)
        # The rules always need the create event, even where it is not cited (v12).
        wanted = {key: state_ids[key] for key in (CREATE_KEY, *auth_keys) if key in state_ids}
        auth_state = {key: new_events[i] for key, i in wanted.items() if i in new_events}
        auth_state.update(await self._load_state({k: i for k, i in wanted.items() if i not in new_events}))
        pdu = self._build_pdu(room_id, room_version, sender, draft, prev, auth_keys, auth_state)
        event = self._finish(pdu, room_version)
        try:
            check_auth_rules(event, auth_state)
        except AuthError as e:
            raise forbidden(e.reason) from None
        return event

    async def _load_state(self, state_ids: Mapping[StateKey, str]) -> dict[StateKey, Event]:
        events = await self._stores.events.get_events(state_ids.values())
        return {key: events[event_id] for key, event_id in state_ids.items() if event_id in events}

    def _build_pdu(
        self,
        room_id: str,
        room_version: RoomVersion,
        sender: str,
        draft: EventDraft,
        prev: list[Event],
        auth_keys: list[StateKey],
        auth_state: Mapping[StateKey, Event],
    ) -> dict[str, Any]:
        auth_events = [auth_state[key] for key in auth_keys if key in auth_state]
        pdu: dict[str, Any] = {
            "room_id": room_id,
            "type": draft.type,
            "sender": sender,
            "content": draft.content,
            "origin_server_ts": self.now_ms() if draft.origin_server_ts is None else draft.origin_server_ts,
            "depth": min(max((e.depth for e in prev), default=0) + 1, MAX_DEPTH),
            "prev_events": _references(prev, room_version),
            "auth_events": _references(auth_events, room_version),
        }
        if draft.state_key is not None:
            pdu["state_key"] = draft.state_key
        if draft.redacts is not None and not room_version.redacts_in_content:
            pdu["redacts"] = draft.redacts
        return pdu

    def _finish(self, pdu: dict[str, Any], room_version: RoomVersion) -> Event:
        """Give the PDU its event ID (v1/v2), hashes and signature, then check its size."""
        if room_version.event_format is EventFormat.V1:
            pdu["event_id"] = f"${_random_string(18)}:{self._server_name}"
        try:
            add_hashes_and_signatures(pdu, room_version, self._server_name, self._signing_key)
            check_pdu_size(pdu)
        except EventTooLarge as e:
            raise MatrixError(413, "M_TOO_LARGE", str(e)) from None
        except CanonicalJsonError as e:
            raise MatrixError(400, "M_BAD_JSON", f"Event is not canonical JSON: {e}") from None
        return Event(pdu, room_version, compute_event_id(pdu, room_version))

    def _new_room_id(self) -> str:
        return f"!{_random_string(18)}:{self._server_name}"

    def room_lock(self, room_id: str) -> AbstractAsyncContextManager[None]:
        """The room's critical section; events received over federation persist inside it too."""
        return self._room_locks.hold(room_id)

    async def announce(self, event: Event, stream_ordering: int | None) -> None:
        """Run the companions and after-persist hooks and wake syncs for an event persisted
        outside `send` (received over federation), after leaving `room_lock`."""
        if stream_ordering is None:
            return
        for companion in self.companions:
            await companion.on_received(event, stream_ordering)
        await self._announce(event, stream_ordering, [])

    async def _announce(self, event: Event, stream_ordering: int | None, then: _Then) -> None:
        if stream_ordering is None:
            return
        for step in then:
            await step()
        for hook in self.after_persist:
            await hook(event, stream_ordering)
        if event.type == "m.room.member":
            self._members.invalidate(event.room_id)
        users = set(await self._members.joined(event.room_id))
        if event.type == "m.room.member" and event.state_key is not None and self._members.is_local(event.state_key):
            # The target of an invite, kick or ban is not joined but must hear of it.
            users.add(event.state_key)
        self._notifier.notify(
            Stream.EVENTS, stream_ordering, users, visible_upto=self._stores.events.current_stream_token
        )


def _joined_writes(own: Statements, others: list[AlongsideWrites]) -> AlongsideWrites:
    def at(stream_ordering: int, after: AfterCommit) -> Statements:
        statements = list(own)
        for writes in others:
            statements += writes(stream_ordering, after)
        return statements

    return at


def _references(events: list[Event], room_version: RoomVersion) -> list[Any]:
    if room_version.event_format is EventFormat.V1:
        return [[e.event_id, e.pdu.get("hashes", {})] for e in events]
    return [e.event_id for e in events]


def _random_string(length: int) -> str:
    return "".join(secrets.choice(string.ascii_letters) for _ in range(length))
