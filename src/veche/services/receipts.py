"""Read receipts and the fully read marker (modules/receipts.md, read_markers.md).

For /sync:
    `current_position()`
    `receipts_for_rooms(user_id, room_ids, since_pos, to_pos=None)` → {room_id: m.receipt
        event} holding every receipt of those rooms that changed after `since_pos` (all of
        them when it is 0); `m.read.private` receipts appear only for their own user.
For unread counts:
    `get_read_receipt(room_id, user_id)` → the event ID the user has read up to, or None.
The fully read marker is room account data (`m.fully_read`), delivered by the account data
service.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass
from typing import Any

from veche.errors import MatrixError, forbidden, invalid_param, not_found
from veche.services.account_data import FULLY_READ_TYPE, AccountDataService
from veche.services.notifier import Notifier
from veche.services.rooms.members import LocalMembers
from veche.services.streams import Stream
from veche.storage.events import EventStore
from veche.storage.receipts import ReceiptStore

READ = "m.read"
READ_PRIVATE = "m.read.private"
FULLY_READ = FULLY_READ_TYPE
RECEIPT_TYPES = frozenset({READ, READ_PRIVATE})
MAIN_THREAD = "main"


@dataclass(frozen=True, slots=True)
class _TimelineEvent:
    event_id: str
    stream_ordering: int
    # The root of the thread the event is in by a direct m.thread relation, if any.
    thread_root: str | None


class ReceiptService:
    def __init__(
        self,
        store: ReceiptStore,
        events: EventStore,
        members: LocalMembers,
        account_data: AccountDataService,
        notifier: Notifier,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._events = events
        self._members = members
        self._account_data = account_data
        self._notifier = notifier
        self._clock = clock
        notifier.advance(Stream.RECEIPTS, store.current_position)
        # Called with (room_id, user_id, receipt_type, event_id, thread_id, ts) for each new
        # public receipt of a local user (federation tells the room's other servers).
        self.on_local_receipt: list[Callable[[str, str, str, str, str | None, int], Awaitable[None]]] = []
        # Called with the same for each new public receipt, local or remote, and the room's
        # joined local users (application services' ephemeral data).
        self.on_public_receipt: list[Callable[[str, str, str, str, str | None, int, frozenset[str]], None]] = []

    def current_position(self) -> int:
        return self._store.current_position

    async def send_receipt(
        self, room_id: str, user_id: str, receipt_type: str, event_id: str, thread_id: str | None
    ) -> None:
        """POST /rooms/{roomId}/receipt/{receiptType}/{eventId} by a local user."""
        if receipt_type != FULLY_READ and receipt_type not in RECEIPT_TYPES:
            raise invalid_param(f"Unknown receipt type {receipt_type!r}")
        if thread_id is not None and receipt_type == FULLY_READ:
            raise invalid_param("thread_id cannot be given for m.fully_read")
        await self._require_joined(room_id, user_id)
        event = await self._timeline_event(room_id, event_id)
        if receipt_type == FULLY_READ:
            await self._set_fully_read(room_id, user_id, event)
            return
        _check_thread(event, thread_id)
        await self._put(room_id, user_id, receipt_type, event, thread_id)

    async def set_read_markers(
        self,
        room_id: str,
        user_id: str,
        *,
        fully_read: str | None = None,
        read: str | None = None,
        read_private: str | None = None,
    ) -> None:
        """POST /rooms/{roomId}/read_markers: every given marker moves, or none does."""
        await self._require_joined(room_id, user_id)
        fully_read_event = await self._timeline_event(room_id, fully_read) if fully_read else None
        read_event = await self._timeline_event(room_id, read) if read else None
        private_event = await self._timeline_event(room_id, read_private) if read_private else None
        if fully_read_event is not None:
            await self._set_fully_read(room_id, user_id, fully_read_event)
        if read_event is not None:
            await self._put(room_id, user_id, READ, read_event, None)
        if private_event is not None:
            await self._put(room_id, user_id, READ_PRIVATE, private_event, None)

    async def receipts_for_rooms(
        self, user_id: str, room_ids: Collection[str], since_pos: int, to_pos: int | None = None
    ) -> dict[str, dict[str, Any]]:
        to = self.current_position() if to_pos is None else to_pos
        events: dict[str, dict[str, Any]] = {}
        for receipt in await self._store.get_changes(room_ids, since_pos, to):
            # receipts.md: m.read.private MUST NOT reach anyone but its sender.
            if receipt.receipt_type == READ_PRIVATE and receipt.user_id != user_id:
                continue
            content = events.setdefault(receipt.room_id, {"type": "m.receipt", "content": {}})["content"]
            data: dict[str, Any] = {"ts": receipt.ts}
            if receipt.thread_id is not None:
                data["thread_id"] = receipt.thread_id
            by_type = content.setdefault(receipt.event_id, {})
            by_type.setdefault(receipt.receipt_type, {})[receipt.user_id] = data
        return events

    async def get_read_receipt(self, room_id: str, user_id: str) -> str | None:
        # receipts.md: whichever of m.read and m.read.private is further ahead counts.
        position = await self._store.get_read_position(room_id, user_id, RECEIPT_TYPES)
        return None if position is None else position[0]

    async def receive_remote_receipt(
        self, room_id: str, user_id: str, receipt_type: str, event_id: str, thread_id: str | None, ts: int
    ) -> None:
        """A public receipt from an m.receipt EDU; the caller checked the user is in the room."""
        if receipt_type != READ:
            return
        try:
            event = await self._timeline_event(room_id, event_id)
        except MatrixError:
            return
        await self._put(room_id, user_id, receipt_type, event, thread_id, ts)

    async def _put(
        self,
        room_id: str,
        user_id: str,
        receipt_type: str,
        event: _TimelineEvent,
        thread_id: str | None,
        ts: int | None = None,
    ) -> None:
        local = ts is None
        ts = int(self._clock() * 1000) if ts is None else ts
        position = await self._store.put(
            room_id, user_id, receipt_type, thread_id, event.event_id, event.stream_ordering, ts
        )
        if position is None:
            return
        if local and receipt_type != READ_PRIVATE:
            for hook in self.on_local_receipt:
                await hook(room_id, user_id, receipt_type, event.event_id, thread_id, ts)
        users = [user_id] if receipt_type == READ_PRIVATE else await self._members.joined(room_id)
        if receipt_type != READ_PRIVATE:
            for listener in self.on_public_receipt:
                listener(room_id, user_id, receipt_type, event.event_id, thread_id, ts, frozenset(users))
        self._notifier.notify(
            Stream.RECEIPTS, position, users, visible_upto=self._store.current_position
        )

    async def _set_fully_read(self, room_id: str, user_id: str, event: _TimelineEvent) -> None:
        current = await self._account_data.get_account_data(user_id, room_id, FULLY_READ)
        current_id = current.get("event_id") if current else None
        if isinstance(current_id, str):
            meta = (await self._events.get_event_meta([current_id])).get(current_id)
            # The marker only moves forward, like the receipts it accompanies.
            if meta is not None and meta.stream_ordering is not None and meta.stream_ordering >= event.stream_ordering:
                return
        await self._account_data.set_server_managed(
            user_id, room_id, FULLY_READ, {"event_id": event.event_id}
        )

    async def _require_joined(self, room_id: str, user_id: str) -> None:
        if user_id not in await self._members.joined(room_id):
            raise forbidden("You are not joined to this room")

    async def _timeline_event(self, room_id: str, event_id: str) -> _TimelineEvent:
        """The event if clients of the room were shown it, else 404."""
        meta = (await self._events.get_event_meta([event_id])).get(event_id)
        if (
            meta is None
            or meta.room_id != room_id
            or meta.stream_ordering is None
            or meta.soft_failed
            or meta.rejected_reason is not None
        ):
            raise not_found(f"Event {event_id} not found in {room_id}")
        event = await self._events.get_event(event_id)
        relation = event.content.get("m.relates_to") if event is not None else None
        thread_root = None
        if isinstance(relation, dict) and relation.get("rel_type") == "m.thread":
            root = relation.get("event_id")
            thread_root = root if isinstance(root, str) else None
        return _TimelineEvent(event_id, meta.stream_ordering, thread_root)


def _check_thread(event: _TimelineEvent, thread_id: str | None) -> None:
    """Refuse a thread_id the event provably is not in (receipts.yaml, 400).

    Only a direct m.thread relation is checked: an event related to a threaded event by
    another relation may be in that thread too, and finding out would take more hops.
    """
    if thread_id is None or event.thread_root is None:
        return
    if thread_id != event.thread_root:
        where = "the main timeline" if thread_id == MAIN_THREAD else f"thread {thread_id}"
        raise invalid_param(f"Event {event.event_id} is in thread {event.thread_root}, not {where}")
