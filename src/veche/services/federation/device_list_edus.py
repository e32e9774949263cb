"""Telling other servers of local users' device and cross-signing key changes
(server-server-api.md "Device Management", m.device_list_update and m.signing_key_update).

`DeviceListRelay` follows `DeviceLists`' local-change hooks: each device change becomes
an m.device_list_update numbered by its device-list stream position (`stream_id`) and
the user's change before it (`prev_id`), with the device's display name and signed keys
as they are now, or `deleted`; a new master or self-signing key becomes an
m.signing_key_update. Both go through the outbox to every other server with a member in
a room the user is joined to, and leave in the order the changes were numbered.

A local user who joins a room makes its servers that shared no other room with them
subscribers of their device list, which are owed EDUs then too ("when that user joins a
room which contains servers which are not already receiving updates for that user's
device list"): `on_event`, an `EventSender.after_persist` hook, sends them the user's last
m.device_list_update again, after the join itself. A server that kept an older list
cannot place it (its prev_id is unknown to it) and fetches the list afresh; one that kept
none fetches when a user of its asks. The cross-signing keys follow as an
m.signing_key_update.
"""

from __future__ import annotations

from typing import Any

from veche.protocol.events import Event
from veche.services.e2ee.device_lists import DeviceChange, DeviceLists
from veche.services.e2ee.keys import E2eKeys
from veche.services.federation.edus import DEVICE_LIST_UPDATE, SIGNING_KEY_UPDATE
from veche.services.federation.sender import FederationSender, server_of
from veche.storage.stores import EventStores


class DeviceListRelay:
    def __init__(
        self,
        *,
        server_name: str,
        sender: FederationSender,
        keys: E2eKeys,
        device_lists: DeviceLists,
        stores: EventStores,
    ) -> None:
        self._server_name = server_name
        self._sender = sender
        self._keys = keys
        self._device_lists = device_lists
        self._stores = stores

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

    async def on_event(self, event: Event, stream_ordering: int) -> None:
        """EventSender hook: a local user's join brings the room's servers that shared no
        other room with them their device list (server-server-api.md "Device Management")."""
        user_id = event.state_key
        if event.membership != "join" or user_id is None or server_of(user_id) != self._server_name:
            return
        servers = await self._sender.servers_in_room(event.room_id)
        servers.discard(self._server_name)
        if not servers or await self._was_joined(event, user_id):
            return
        others = [r for r in await self._stores.rooms.get_rooms_for_user(user_id) if r != event.room_id]
        servers -= await self._sender.servers_in_rooms(others)
        if not servers:
            return
        edus: list[tuple[str, dict[str, Any]]] = []
        change = await self._device_lists.latest_change(user_id)
        if change is not None:
            edus.append((DEVICE_LIST_UPDATE, await self._device_list_update(change)))
        signing_keys = await self._keys.signing_key_update(user_id)
        if signing_keys:
            edus.append((SIGNING_KEY_UPDATE, {"user_id": user_id, **signing_keys}))
        await self._sender.outbox.send_edus(
            [(server, edu_type, content) for server in sorted(servers) for edu_type, content in edus]
        )

    async def _was_joined(self, event: Event, user_id: str) -> bool:
        """Whether the user was already joined before `event` (a profile change, not a join);
        read from the state after its first prev event, unknown (False) after a remote join."""
        prev = event.prev_event_ids
        snapshot = await self._stores.state.get_snapshot_after(prev[0]) if prev else None
        if snapshot is None:
            return False
        picked = await self._stores.state.pick_snapshot_ids(snapshot, [("m.room.member", user_id)])
        member_id = picked.get(("m.room.member", user_id))
        member = await self._stores.events.get_event(member_id) if member_id is not None else None
        return member is not None and member.membership == "join"

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
