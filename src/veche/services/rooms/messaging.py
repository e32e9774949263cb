"""Sending into a room on a client's behalf: transaction IDs, state, redactions."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from veche.services.keyed_lock import KeyedLock
from veche.services.rooms.sending import EventDraft, EventSender, Once
from veche.storage.accounts import TokenInfo
from veche.storage.room_directory import ClientTransactionStore
from veche.storage.stores import EventStores


# Sends one kind of state event with that kind's own rules: (user_id, room_id, draft) → event ID.
StateHandler = Callable[[str, str, EventDraft], Awaitable[str]]


class RoomMessaging:
    def __init__(
        self,
        *,
        sender: EventSender,
        stores: EventStores,
        transactions: ClientTransactionStore,
        state_handlers: Mapping[str, StateHandler] | None = None,
    ) -> None:
        self._sender = sender
        self._stores = stores
        self._transactions = transactions
        # Event types (m.room.member, m.room.canonical_alias) whose PUT /state must follow
        # the rules of their own endpoints rather than the auth rules alone.
        self._state_handlers = dict(state_handlers or {})
        self._transaction_locks = KeyedLock()

    async def send_with_transaction(
        self, requester: TokenInfo, room_id: str, draft: EventDraft, txn_id: str
    ) -> str:
        """Send once per (device, transaction ID): a retried request gets the first event's ID.

        The transaction ID commits with the event, so one that survives a crash always
        names an event that did too, and a retry after a crash never sends twice. The
        sends queued into a room together look their transaction IDs up in one statement;
        the lock keeps a retry from overlapping the request it repeats.
        """
        key = (requester.user_id, requester.device_id, txn_id)
        async with self._transaction_locks.hold(key):
            return await self._sender.send_once(
                room_id,
                requester.user_id,
                draft,
                Once(key, self._transactions.get_event_ids),
                record=lambda event: self._transactions.record_statements(
                    *key, event.event_id, self._sender.now_ms()
                ),
            )

    async def send_state(self, user_id: str, room_id: str, draft: EventDraft) -> str:
        handler = self._state_handlers.get(draft.type)
        if handler is not None:
            return await handler(user_id, room_id, draft)
        event = await self._sender.send(room_id, user_id, draft)
        return event.event_id

    async def redact(
        self, requester: TokenInfo, room_id: str, target: str, content: dict[str, Any], txn_id: str
    ) -> str:
        room_version = await self._stores.rooms.get_room_version(room_id)
        if room_version is not None and room_version.redacts_in_content:
            draft = EventDraft("m.room.redaction", {**content, "redacts": target})
        else:
            draft = EventDraft("m.room.redaction", content, redacts=target)
        return await self.send_with_transaction(requester, room_id, draft, txn_id)
