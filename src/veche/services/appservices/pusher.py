"""Pushing events to application services in transactions (application-service-api.md,
"Pushing events"; transactions.yaml).

Each service with a URL follows the event stream from a durable position of its own
(`AppServiceStore`): a task reads the events committed above it in stream order, keeps
those that interest the service (`protocol.appservice.is_event_interesting`, or of a room
that does: `is_room_of_interest`) and PUTs them as one transaction; only once the service
has answered 200 does the position move past them. So every event reaches the service at
least once, in order, across crashes and restarts. A failed transaction is retried, the
same body under the same ID, with exponential back-off (capped); the service's other
events wait behind it. A transaction's ID is made of the stream positions it spans, so a
transaction repeated after a restart carries the same ID and the service can drop it as
already seen.

The send path only wakes the tasks (`on_event`, an after-persist hook): no statement runs
in it. A stretch of stream that interests no service is skipped with its position written
at most every `_IDLE_PERSIST_STRIDE` positions (re-reading it after a crash sends nothing).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from veche.protocol.appservice import Registration, is_event_interesting, is_room_of_interest
from veche.protocol.client_events import format_client_event
from veche.protocol.events import Event
from veche.services.appservices.client import AppServiceClient, AppServiceError
from veche.services.rooms.members import LocalMembers
from veche.storage.appservices import AppServiceStore
from veche.storage.events import EventStore
from veche.storage.room_directory import AliasStore

logger = logging.getLogger(__name__)

MAX_EVENTS = 100
INITIAL_RETRY_SECONDS = 2.0
MAX_RETRY_SECONDS = 600.0
_IDLE_PERSIST_STRIDE = 1000
_ALIAS_CACHE_SECONDS = 60.0
_ALIAS_CACHE_ROOMS = 10_000


def _now_ms() -> int:
    return int(time.time() * 1000)


class TransactionPusher:
    def __init__(
        self,
        *,
        server_name: str,
        registrations: tuple[Registration, ...],
        store: AppServiceStore,
        events: EventStore,
        members: LocalMembers,
        aliases: AliasStore,
        client: AppServiceClient,
        clock: Callable[[], int] = _now_ms,
        initial_retry_seconds: float = INITIAL_RETRY_SECONDS,
        max_retry_seconds: float = MAX_RETRY_SECONDS,
    ) -> None:
        self._server_name = server_name
        self._registrations = tuple(reg for reg in registrations if reg.url is not None)
        self._store = store
        self._events = events
        self._members = members
        self._aliases = aliases
        self._client = client
        self._clock = clock
        self.initial_retry_seconds = initial_retry_seconds
        self._max_retry = max_retry_seconds
        self._wake: dict[str, asyncio.Event] = {reg.id: asyncio.Event() for reg in self._registrations}
        self._ephemeral: dict[str, list[dict[str, Any]]] = {reg.id: [] for reg in self._registrations}
        self._tasks: list[asyncio.Task[None]] = []
        # Each service's position in memory (what a clean stop stores), ahead of the stored
        # one across stretches that interested it not.
        self._positions: dict[str, int] = {}
        # room ID → (its aliases, when they were read): the alias rule is asked of every
        # event of rooms no other rule makes interesting.
        self._room_aliases: dict[str, tuple[list[str], float]] = {}

    async def start(self) -> None:
        for reg in self._registrations:
            position = await self._store.get_position(reg.id)
            if position is None:
                position = self._events.current_stream_token
                await self._store.set_position(reg.id, position)
            self._tasks.append(asyncio.create_task(self._run(reg, position), name=f"appservice {reg.id}"))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        positions, self._positions = self._positions, {}
        for appservice_id, position in positions.items():
            await self._store.set_position(appservice_id, position)

    async def on_event(self, event: Event, stream_ordering: int | None) -> None:
        """After-persist hook: the tasks read the stream themselves; this only wakes them."""
        if stream_ordering is not None:
            for wake in self._wake.values():
                wake.set()

    def push_ephemeral(self, room_id: str, edu: dict[str, Any], user_ids: frozenset[str]) -> None:
        """Queue a typing or receipt EDU of `room_id` (whose joined local users are
        `user_ids`) for the services that asked for ephemeral data and whose users are in
        the room. Ephemeral data is not kept across restarts."""
        for reg in self._registrations:
            if not reg.receive_ephemeral:
                continue
            if reg.is_room_interesting(room_id) or any(
                reg.is_user_interesting(user, self._server_name) for user in user_ids
            ):
                self._ephemeral[reg.id].append({**edu, "room_id": room_id})
                self._wake[reg.id].set()

    def on_typing(self, room_id: str, typers: list[str], joined: frozenset[str]) -> None:
        """TypingService.on_change listener."""
        self.push_ephemeral(room_id, {"type": "m.typing", "content": {"user_ids": typers}}, joined)

    def on_receipt(
        self,
        room_id: str,
        user_id: str,
        receipt_type: str,
        event_id: str,
        thread_id: str | None,
        ts: int,
        joined: frozenset[str],
    ) -> None:
        """ReceiptService.on_public_receipt listener."""
        receipt: dict[str, Any] = {"ts": ts}
        if thread_id is not None:
            receipt["thread_id"] = thread_id
        content = {event_id: {receipt_type: {user_id: receipt}}}
        self.push_ephemeral(room_id, {"type": "m.receipt", "content": content}, joined)

    async def _run(self, reg: Registration, position: int) -> None:
        persisted = position
        wake = self._wake[reg.id]
        txn_counter = 0
        while True:
            target = self._events.current_stream_token
            self._positions[reg.id] = position
            if position >= target and not self._ephemeral[reg.id]:
                wake.clear()
                # A commit between the read of the token and the clear must not be missed.
                if self._events.current_stream_token <= position:
                    await wake.wait()
                continue
            try:
                events, reached = await self._read(reg, position, target)
            except Exception:
                logger.exception("Appservice %s: reading events above %d failed", reg.id, position)
                await asyncio.sleep(self.initial_retry_seconds)
                continue
            ephemeral, self._ephemeral[reg.id] = self._ephemeral[reg.id], []
            if events or ephemeral:
                txn_id = f"{position + 1}-{reached}"
                if ephemeral:
                    txn_counter += 1
                    txn_id += f".{self._clock()}.{txn_counter}"
                body: dict[str, Any] = {"events": events}
                if reg.receive_ephemeral:
                    body["ephemeral"] = ephemeral
                    body["de.sorunome.msc2409.ephemeral"] = ephemeral
                await self._deliver(reg, txn_id, body)
                position = persisted = reached
                await self._store.set_position(reg.id, position)
            else:
                position = reached
                if position - persisted >= _IDLE_PERSIST_STRIDE:
                    await self._store.set_position(reg.id, position)
                    persisted = position

    async def _read(self, reg: Registration, lower: int, upper: int) -> tuple[list[dict[str, Any]], int]:
        """The client-formatted events above `lower` that interest `reg`, and the position
        read up to."""
        rows = await self._store.events_between(lower, upper, MAX_EVENTS)
        reached = rows[-1][1] if len(rows) == MAX_EVENTS else upper
        found = await self._events.get_events([event_id for event_id, _ in rows])
        joined = await self._members.joined_many({event.room_id for event in found.values()})
        rooms: dict[str, bool] = {}
        now = self._clock()
        chosen = []
        for event_id, _ in rows:
            event = found.get(event_id)
            if event is None:
                continue
            if is_event_interesting(
                reg, self._server_name, sender=event.sender, state_key=event.state_key, event_type=event.type
            ) or await self._is_room_of_interest(reg, event.room_id, joined[event.room_id], rooms):
                chosen.append(format_client_event(event, now_ms=now))
        return chosen, reached

    async def _is_room_of_interest(
        self, reg: Registration, room_id: str, members: frozenset[str], known: dict[str, bool]
    ) -> bool:
        """Whether all the room's events interest `reg`, remembered in `known` (one batch's
        answers): the rules ask of every member and may read the room's aliases."""
        interesting = known.get(room_id)
        if interesting is None:
            interesting = is_room_of_interest(reg, self._server_name, room_id=room_id, room_members=members)
            if not interesting and reg.aliases:
                aliases = await self._aliases_of(room_id)
                interesting = is_room_of_interest(reg, self._server_name, room_id=room_id, room_aliases=aliases)
            known[room_id] = interesting
        return interesting

    def forget_room(self, room_id: str) -> None:
        self._room_aliases.pop(room_id, None)

    async def _aliases_of(self, room_id: str) -> list[str]:
        """The room's aliases, read at most once a minute: an alias added just now may take
        that long to make the room's events interesting."""
        cached = self._room_aliases.get(room_id)
        now = time.monotonic()
        if cached is not None and now - cached[1] < _ALIAS_CACHE_SECONDS:
            return cached[0]
        if len(self._room_aliases) >= _ALIAS_CACHE_ROOMS:
            self._room_aliases.clear()
        aliases = await self._aliases.aliases_of_room(room_id)
        self._room_aliases[room_id] = (aliases, now)
        return aliases

    async def _deliver(self, reg: Registration, txn_id: str, body: dict[str, Any]) -> None:
        """PUT the transaction until the service accepts it."""
        delay = self.initial_retry_seconds
        while True:
            try:
                await self._client.put_transaction(reg, txn_id, body)
                return
            except AppServiceError as e:
                logger.info("Appservice %s: transaction %s failed (%s); retrying in %.0f s", reg.id, txn_id, e, delay)
            except Exception:
                logger.exception("Appservice %s: transaction %s failed unexpectedly", reg.id, txn_id)
            await asyncio.sleep(delay)
            delay = min(delay * 2, self._max_retry)
