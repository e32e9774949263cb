"""The end-to-end encryption parts of /sync: `to_device`, `device_lists`,
`device_one_time_keys_count` and `device_unused_fallback_key_types`
(modules/end_to_end_encryption.md "Extensions to /sync", modules/send_to_device.md).
The key counts are required in every response, so they are a device filler."""

from __future__ import annotations

from typing import Any

from veche.services.e2ee import E2eeServices
from veche.services.streams import Stream
from veche.services.sync.rooms import SyncRequest
from veche.storage.accounts import TokenInfo


class E2eeSections:
    def __init__(self, services: E2eeServices) -> None:
        self._services = services

    async def __call__(self, request: SyncRequest, response: dict[str, Any]) -> None:
        user_id = request.user_id
        device_id = request.requester.device_id
        since = request.since
        services = self._services

        page = await services.to_device.inbox(
            user_id, device_id, since.to_device if since else None, request.now.to_device
        )
        response["to_device"]["events"] = page.messages
        if page.limited and page.last_position is not None:
            # The rest waits for the next sync, which must start after what was sent.
            response["next_batch"] = request.now.advance(Stream.TO_DEVICE, page.last_position).serialize()

        # Only an incremental sync carries device_lists; after an initial one the client
        # queries the keys it needs itself.
        if since is not None:
            changed, left = await services.device_lists.changes(user_id, since, request.now)
            response["device_lists"] = {"changed": changed, "left": left}


class DeviceKeyCounts:
    """The key fields every sync response carries for the requesting device (cached)."""

    def __init__(self, services: E2eeServices) -> None:
        self._keys = services.keys

    async def __call__(self, requester: TokenInfo, response: dict[str, Any]) -> None:
        user_id, device_id = requester.user_id, requester.device_id
        response["device_one_time_keys_count"] = await self._keys.one_time_key_counts(user_id, device_id)
        response["device_unused_fallback_key_types"] = await self._keys.unused_fallback_key_types(user_id, device_id)
