"""EDUs both ways (server-server-api.md "EDUs", "Typing Notifications", "Presence",
"Receipts", "Send-to-device messaging", "Device Management"; definitions/edu.yaml).

`EduReceiver.receive(origin, edu)` hands each EDU of a transaction to the handler of its
type. An EDU only speaks for users of the server that sent it, room EDUs only for rooms
whose server ACL lets that server in and where the user is joined, and presence only for
users sharing a room with a local user (`PresenceService.receive_remote_presence`):
anything else is ignored (EDUs have no per-item answer).

`EduRelay` is the other direction: hooks on the local services that queue EDUs for the
servers that should hear of them, through `FederationSender`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from veche.protocol.identifiers import InvalidIdentifier, parse_user_id
from veche.services.e2ee.device_lists import DeviceLists
from veche.services.e2ee.to_device import ToDeviceMessaging
from veche.services.federation.acl import ServerAclChecker
from veche.services.federation.remote_devices import RemoteDeviceLists
from veche.services.federation.sender import FederationSender
from veche.services.presence import PresenceService
from veche.services.receipts import ReceiptService
from veche.services.typing import TypingService
from veche.storage.rooms import RoomStore

logger = logging.getLogger(__name__)

EduHandler = Callable[[str, dict[str, Any]], Awaitable[None]]
"""Called with the origin and the EDU's content."""

TYPING = "m.typing"
RECEIPT = "m.receipt"
PRESENCE = "m.presence"
DIRECT_TO_DEVICE = "m.direct_to_device"
DEVICE_LIST_UPDATE = "m.device_list_update"
SIGNING_KEY_UPDATE = "m.signing_key_update"

# The typing timeout when an m.typing EDU names none (Synapse uses 30 s as well).
REMOTE_TYPING_TIMEOUT_MS = 30_000
MAX_PRESENCE_PUSH = 1000


def _now_ms() -> int:
    return int(time.time() * 1000)


class EduReceiver:
    def __init__(
        self,
        *,
        server_name: str,
        rooms: RoomStore,
        acl: ServerAclChecker,
        typing: TypingService,
        receipts: ReceiptService,
        presence: PresenceService,
        to_device: ToDeviceMessaging,
        device_lists: DeviceLists,
        remote_devices: RemoteDeviceLists,
        clock: Callable[[], int] = _now_ms,
    ) -> None:
        self._server_name = server_name
        self._rooms = rooms
        self._acl = acl
        self._typing = typing
        self._receipts = receipts
        self._presence = presence
        self._to_device = to_device
        self._device_lists = device_lists
        self._remote_devices = remote_devices
        self._clock = clock
        self.handlers: dict[str, EduHandler] = {
            TYPING: self._on_typing,
            RECEIPT: self._on_receipt,
            PRESENCE: self._on_presence,
            DIRECT_TO_DEVICE: self._on_to_device,
            DEVICE_LIST_UPDATE: self._on_device_list_update,
            SIGNING_KEY_UPDATE: self._on_signing_key_update,
        }

    async def receive(self, origin: str, edu: Any) -> None:
        if not isinstance(edu, dict) or not isinstance(edu.get("content"), dict):
            return
        handler = self.handlers.get(edu.get("edu_type"))  # type: ignore[arg-type]
        if handler is None:
            return
        try:
            await handler(origin, edu["content"])
        except Exception:
            # One bad EDU must not cost the transaction its other EDUs.
            logger.exception("Handling a %s EDU from %s failed", edu.get("edu_type"), origin)

    async def _in_room(self, origin: str, room_id: Any, user_id: Any) -> bool:
        """Whether `user_id` is the origin's user, joined to `room_id`, which lets the origin in."""
        if not isinstance(room_id, str) or not _is_user_of(user_id, origin):
            return False
        if not await self._acl.is_allowed(room_id, origin):
            return False
        return user_id in await self._rooms.get_joined_members(room_id)

    async def _on_typing(self, origin: str, content: dict[str, Any]) -> None:
        room_id, user_id, typing = content.get("room_id"), content.get("user_id"), content.get("typing")
        if not isinstance(typing, bool) or not await self._in_room(origin, room_id, user_id):
            return
        timeout = content.get("timeout")
        if not isinstance(timeout, int) or isinstance(timeout, bool) or timeout <= 0:
            timeout = REMOTE_TYPING_TIMEOUT_MS
        await self._typing.set_remote_typing(room_id, user_id, typing, timeout)

    async def _on_receipt(self, origin: str, content: dict[str, Any]) -> None:
        for room_id, by_type in content.items():
            if not isinstance(by_type, dict) or not await self._acl.is_allowed(room_id, origin):
                continue
            for receipt_type, by_user in by_type.items():
                if not isinstance(by_user, dict):
                    continue
                for user_id, receipt in by_user.items():
                    await self._one_receipt(origin, room_id, receipt_type, user_id, receipt)

    async def _one_receipt(self, origin: str, room_id: str, receipt_type: str, user_id: str, receipt: Any) -> None:
        if not isinstance(receipt, dict) or not await self._in_room(origin, room_id, user_id):
            return
        event_ids = receipt.get("event_ids")
        data = receipt.get("data") if isinstance(receipt.get("data"), dict) else {}
        if not isinstance(event_ids, list) or not event_ids or not isinstance(event_ids[0], str):
            return
        ts = data.get("ts")
        ts = ts if isinstance(ts, int) and not isinstance(ts, bool) else self._clock()
        thread_id = data.get("thread_id")
        thread_id = thread_id if isinstance(thread_id, str) else None
        await self._receipts.receive_remote_receipt(room_id, user_id, receipt_type, event_ids[0], thread_id, ts)

    async def _on_presence(self, origin: str, content: dict[str, Any]) -> None:
        pushed = content.get("push")
        if not isinstance(pushed, list):
            return
        now = self._clock()
        for item in pushed[:MAX_PRESENCE_PUSH]:
            if not isinstance(item, dict) or not _is_user_of(item.get("user_id"), origin):
                continue
            state = item.get("presence")
            ago = item.get("last_active_ago")
            ago = ago if isinstance(ago, int) and not isinstance(ago, bool) and ago >= 0 else 0
            status_msg = item.get("status_msg")
            if not isinstance(state, str):
                continue
            await self._presence.receive_remote_presence(
                item["user_id"], state, status_msg if isinstance(status_msg, str) else None, now - ago
            )

    async def _on_to_device(self, origin: str, content: dict[str, Any]) -> None:
        sender, event_type = content.get("sender"), content.get("type")
        message_id, messages = content.get("message_id"), content.get("messages")
        if not _is_user_of(sender, origin) or not isinstance(event_type, str) or not isinstance(message_id, str):
            return
        if not isinstance(messages, dict):
            return
        local = {
            user_id: {device: body for device, body in devices.items() if isinstance(body, dict)}
            for user_id, devices in messages.items()
            if isinstance(devices, dict) and _is_user_of(user_id, self._server_name)
        }
        await self._to_device.receive_remote(sender, event_type, message_id, local)

    async def _on_device_list_update(self, origin: str, content: dict[str, Any]) -> None:
        user_id = content.get("user_id")
        if _is_user_of(user_id, origin) and await self._remote_devices.device_list_update(user_id, content):
            # Local clients re-query the user's keys when told their device list changed.
            await self._device_lists.keys_changed(user_id)

    async def _on_signing_key_update(self, origin: str, content: dict[str, Any]) -> None:
        user_id = content.get("user_id")
        if _is_user_of(user_id, origin) and await self._remote_devices.signing_key_update(user_id, content):
            await self._device_lists.keys_changed(user_id)


class EduRelay:
    """Hooks on the local user-data services that tell other servers what they should hear."""

    def __init__(self, sender: FederationSender) -> None:
        self._sender = sender

    async def typing_changed(self, room_id: str, user_id: str, typing: bool, timeout_ms: int) -> None:
        content = {"room_id": room_id, "user_id": user_id, "typing": typing}
        if typing:
            content["timeout"] = timeout_ms
        await self._sender.send_edu_to_room(room_id, TYPING, content)

    async def receipt_sent(
        self, room_id: str, user_id: str, receipt_type: str, event_id: str, thread_id: str | None, ts: int
    ) -> None:
        data: dict[str, Any] = {"ts": ts}
        if thread_id is not None:
            data["thread_id"] = thread_id
        content = {room_id: {receipt_type: {user_id: {"event_ids": [event_id], "data": data}}}}
        await self._sender.send_edu_to_room(room_id, RECEIPT, content)

    async def presence_changed(self, user_id: str, presence: dict[str, Any]) -> None:
        servers = await self._sender.servers_sharing_rooms_with(user_id)
        if servers:
            await self._sender.send_edu_to_servers(servers, PRESENCE, {"push": [{"user_id": user_id, **presence}]})

    async def to_device(
        self, server: str, sender: str, event_type: str, message_id: str, messages: dict[str, Any]
    ) -> None:
        content = {"sender": sender, "type": event_type, "message_id": message_id, "messages": messages}
        await self._sender.send_edu_to_servers([server], DIRECT_TO_DEVICE, content)


def _is_user_of(user_id: Any, server_name: str) -> bool:
    if not isinstance(user_id, str):
        return False
    try:
        return parse_user_id(user_id).server_name == server_name
    except InvalidIdentifier:
        return False
