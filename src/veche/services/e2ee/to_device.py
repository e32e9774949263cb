"""Send-to-device messaging (modules/send_to_device.md, to_device.yaml).

A message waits in its device's inbox until a /sync of that device acknowledges it by
sending back a token at or past the message's position, so a client that loses a
response receives the same messages again: each is delivered exactly once.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

from veche.errors import invalid_param
from veche.protocol.identifiers import InvalidIdentifier, parse_user_id
from veche.services.notifier import Notifier
from veche.services.streams import Stream
from veche.storage.accounts import AccountStore, TokenInfo
from veche.storage.to_device import Delivery, InboxPage, ToDeviceStore

logger = logging.getLogger(__name__)

ALL_DEVICES = "*"
# modules/send_to_device.md: "100 messages is recommended as a reasonable limit".
SYNC_LIMIT = 100


class ToDeviceMessaging:
    def __init__(self, server_name: str, store: ToDeviceStore, accounts: AccountStore, notifier: Notifier) -> None:
        self._server_name = server_name
        self._store = store
        self._accounts = accounts
        self._notifier = notifier
        notifier.advance(Stream.TO_DEVICE, store.current_position)
        # Carries messages for another server's users: called with (server, sender,
        # event_type, message_id, {user_id: {device_id: content}}); without it they are dropped.
        self.send_remote: Callable[[str, str, str, str, dict[str, Any]], Awaitable[None]] | None = None

    async def send(self, sender: TokenInfo, event_type: str, txn_id: str, messages: Any) -> None:
        if not isinstance(messages, dict):
            raise invalid_param("messages must map user IDs to device IDs to contents")
        deliveries: list[Delivery] = []
        remote: dict[str, dict[str, Any]] = {}
        for user_id, devices in messages.items():
            if not isinstance(devices, dict) or not all(isinstance(c, dict) for c in devices.values()):
                raise invalid_param(f"messages.{user_id} must map device IDs to content objects")
            try:
                server = parse_user_id(user_id).server_name
            except InvalidIdentifier:
                raise invalid_param(f"{user_id!r} is not a valid user ID") from None
            if server != self._server_name:
                remote.setdefault(server, {})[user_id] = devices
                continue
            deliveries.extend(await self._local_deliveries(sender.user_id, event_type, user_id, devices))
        position = await self._store.enqueue(sender.user_id, sender.device_id, txn_id, deliveries)
        if position is not None:
            self._notifier.notify(
                Stream.TO_DEVICE,
                position,
                {d.user_id for d in deliveries},
                visible_upto=self._store.current_position,
            )
        for server, by_user in remote.items():
            if self.send_remote is None:
                logger.warning("Dropping to-device messages for %s: no federation", server)
                continue
            await self.send_remote(server, sender.user_id, event_type, secrets.token_urlsafe(16), by_user)

    async def receive_remote(self, sender: str, event_type: str, message_id: str, messages: dict[str, Any]) -> None:
        """An m.direct_to_device EDU; the caller checked that the sender is the origin's user
        and that `messages` maps this server's users to device IDs to content objects."""
        deliveries: list[Delivery] = []
        for user_id, devices in messages.items():
            deliveries.extend(await self._local_deliveries(sender, event_type, user_id, devices))
        # The message ID stands in for a transaction ID: a resent EDU is delivered once.
        position = await self._store.enqueue(sender, "", message_id, deliveries)
        if position is not None:
            self._notifier.notify(
                Stream.TO_DEVICE,
                position,
                {d.user_id for d in deliveries},
                visible_upto=self._store.current_position,
            )

    async def _local_deliveries(
        self, sender: str, event_type: str, user_id: str, devices: dict[str, dict[str, Any]]
    ) -> list[Delivery]:
        existing = [d.device_id for d in await self._accounts.list_devices(user_id)]
        deliveries = []
        for device_id, content in devices.items():
            targets = existing if device_id == ALL_DEVICES else [device_id] if device_id in existing else []
            message = {"sender": sender, "type": event_type, "content": content}
            deliveries.extend(Delivery(user_id, target, message) for target in targets)
        return deliveries

    async def inbox(
        self, user_id: str, device_id: str, since: int | None, to: int, limit: int = SYNC_LIMIT
    ) -> InboxPage:
        """The messages for a /sync holding `since` (None: initial), acknowledging older ones."""
        if since is not None:
            await self._store.acknowledge(user_id, device_id, since)
        return await self._store.read_inbox(user_id, device_id, since or 0, to, min(limit, SYNC_LIMIT))

    async def delete_devices(self, user_id: str, device_ids: list[str]) -> None:
        await self._store.delete_devices(user_id, device_ids)
