"""Telling other servers of local users' device and cross-signing key changes
(server-server-api.md "Device Management", m.device_list_update and m.signing_key_update).

`DeviceListRelay` follows `DeviceLists`' local-change hooks: each device change becomes
an m.device_list_update numbered by its device-list stream position (`stream_id`) and
the user's change before it (`prev_id`), with the device's display name and signed keys
as they are now, or `deleted`; a new master or self-signing key becomes an
m.signing_key_update. Both go through the outbox to every other server with a member in
a room the user is joined to, and leave in the order the changes were numbered.
"""

from __future__ import annotations

from typing import Any

from veche.services.e2ee.device_lists import DeviceChange
from veche.services.e2ee.keys import E2eKeys
from veche.services.federation.edus import DEVICE_LIST_UPDATE, SIGNING_KEY_UPDATE
from veche.services.federation.sender import FederationSender


class DeviceListRelay:
    def __init__(self, *, sender: FederationSender, keys: E2eKeys) -> None:
        self._sender = sender
        self._keys = keys

    async def devices_changed(self, changes: list[DeviceChange]) -> None:
        """DeviceLists.on_local_device_change hook: one changed user's devices."""
        if not changes:
            return
        servers = sorted(await self._sender.servers_sharing_rooms_with(changes[0].user_id))
        if not servers:
            return
        edus = []
        for change in changes:
            content = await self._device_list_update(change)
            edus.extend((server, DEVICE_LIST_UPDATE, content) for server in servers)
        await self._sender.outbox.send_edus(edus)

    async def signing_keys_changed(self, user_id: str) -> None:
        """DeviceLists.on_local_signing_keys_change hook."""
        servers = await self._sender.servers_sharing_rooms_with(user_id)
        if not servers:
            return
        keys = await self._keys.signing_key_update(user_id)
        if keys:
            await self._sender.send_edu_to_servers(servers, SIGNING_KEY_UPDATE, {"user_id": user_id, **keys})

    async def _device_list_update(self, change: DeviceChange) -> dict[str, Any]:
        content: dict[str, Any] = {
            "user_id": change.user_id,
            "device_id": change.device_id,
            "stream_id": change.stream_id,
            # user_devices.yaml's stream_id is the same sequence, so a peer that fetched
            # the list at prev_id can apply this change on top.
            "prev_id": [change.prev_id] if change.prev_id else [],
            "deleted": change.deleted,
        }
        if not change.deleted:
            device = await self._keys.device_update(change.user_id, change.device_id)
            if device is None:
                # Deleted since: the deletion's own update follows, this one says so too.
                content["deleted"] = True
            else:
                content.update(device)
        return content
