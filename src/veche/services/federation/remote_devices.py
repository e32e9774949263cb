"""Device lists of users on other servers, kept while this server shares a room with them.

While a room is shared, the user's server tells this one of every device change
(server-server-api.md "Device Management"). An m.device_list_update whose prev_ids are
all at or before the kept list's stream_id (and its own stream_id after it) is applied
to the kept list alone; one numbered as the kept list is the change it ends with, sent
again (as on a join), and changes nothing; any other means updates were lost or cannot be placed, so the
list is dropped as stale and the next query asks GET /user/devices (user_devices.yaml)
again. An m.signing_key_update replaces the kept
cross-signing keys. A list is only trusted while a room is still shared, and is dropped
as soon as the last one may not be, since changes made meanwhile would go unheard.
"""

from __future__ import annotations

import time
from typing import Any

from veche.protocol.events import Event
from veche.protocol.identifiers import parse_user_id
from veche.services.federation.client import BadFederationResponse, FederationClient, federation_path
from veche.services.keyed_lock import KeyedLock
from veche.services.rooms.members import LocalMembers
from veche.storage.remote_devices import RemoteDeviceStore
from veche.storage.rooms import RoomStore

USER_DEVICES = "/_matrix/federation/v1/user/devices/{}"


class RemoteDeviceLists:
    def __init__(
        self,
        *,
        server_name: str,
        client: FederationClient,
        store: RemoteDeviceStore,
        rooms: RoomStore,
        members: LocalMembers,
    ) -> None:
        self._server_name = server_name
        self._client = client
        self._store = store
        self._rooms = rooms
        self._members = members
        # Bumped by every drop or applied update, so an answer fetched before a change is
        # not kept after it.
        self._generations: dict[str, int] = {}
        # One update of a user's kept list at a time: each reads, changes and writes it.
        self._updating = KeyedLock()

    async def cached(self, user_ids: list[str]) -> dict[str, dict[str, Any]]:
        """The kept /user/devices answers of those users that still share a room here."""
        kept = {}
        for user_id, answer in (await self._store.get(user_ids)).items():
            if await self.is_tracked(user_id):
                kept[user_id] = answer
            else:
                await self.forget(user_id)
        return kept

    async def fetch(self, user_id: str, timeout: float) -> dict[str, Any]:
        """The user's devices from their server, kept if a room is shared."""
        generation = self._generations.get(user_id, 0)
        server = parse_user_id(user_id).server_name
        answer = await self._client.get_json(server, federation_path(USER_DEVICES, user_id), timeout=timeout)
        checked = _checked_answer(server, user_id, answer)
        if self._generations.get(user_id, 0) == generation and await self.is_tracked(user_id):
            await self._store.put(user_id, checked["stream_id"], checked, int(time.time() * 1000))
        return checked

    async def forget(self, user_id: str) -> None:
        self._bump(user_id)
        await self._store.forget(user_id)

    async def device_list_update(self, user_id: str, content: dict[str, Any]) -> bool:
        """An m.device_list_update from the user's server: applied to the kept list, or the
        list dropped as stale. True if local users should re-query the user's keys."""
        stream_id, prev_ids = content.get("stream_id"), content.get("prev_id", [])
        if not _is_int(stream_id) or not isinstance(prev_ids, list) or not isinstance(content.get("device_id"), str):
            return False
        if self._is_local(user_id) or not await self.is_tracked(user_id):
            return False
        async with self._updating.hold(user_id):
            kept = (await self._store.get([user_id])).get(user_id)
            if kept is not None and stream_id == kept["stream_id"]:
                # The change the kept list ends with, sent again on a join (device_list_edus.py).
                return False
            updated = None
            # An update numbered at or before the kept list is not laid over it: either it
            # is already in there or the server numbers its answers and updates apart, and
            # asking again is right in both cases.
            if (
                kept is not None
                and stream_id > kept["stream_id"]
                and all(_is_int(p) and p <= kept["stream_id"] for p in prev_ids)
            ):
                updated = _with_device_update(kept, user_id, content)
            if updated is None:
                await self.forget(user_id)
            else:
                await self._keep(user_id, updated)
        return True

    async def signing_key_update(self, user_id: str, content: dict[str, Any]) -> bool:
        """An m.signing_key_update from the user's server: the kept cross-signing keys are
        replaced (or the list dropped, if they make no sense). True if local users should
        re-query the user's keys."""
        if self._is_local(user_id) or not await self.is_tracked(user_id):
            return False
        async with self._updating.hold(user_id):
            kept = (await self._store.get([user_id])).get(user_id)
            if kept is None:
                return True
            updated = dict(kept)
            for field, usage in (("master_key", "master"), ("self_signing_key", "self_signing")):
                key = content.get(field)
                if key is None:
                    continue
                if not _is_cross_signing_key(key, user_id, usage):
                    await self.forget(user_id)
                    return True
                updated[field] = key
            await self._keep(user_id, updated)
        return True

    async def _keep(self, user_id: str, answer: dict[str, Any]) -> None:
        self._bump(user_id)
        await self._store.put(user_id, answer["stream_id"], answer, int(time.time() * 1000))

    def _bump(self, user_id: str) -> None:
        self._generations[user_id] = self._generations.get(user_id, 0) + 1

    async def on_event(self, event: Event, stream_ordering: int) -> None:
        """EventSender hook: a membership that ends a shared room drops the lists it kept."""
        if event.type != "m.room.member" or event.membership == "join" or event.state_key is None:
            return
        if not self._is_local(event.state_key):
            await self.forget(event.state_key)
            return
        # Read from the store: the joined-members cache is refreshed after the hooks.
        joined = await self._rooms.get_joined_members(event.room_id)
        if not any(self._is_local(user_id) for user_id in joined):
            for user_id in joined:
                await self.forget(user_id)

    async def is_tracked(self, user_id: str) -> bool:
        """Whether changes to the user's devices reach this server (a room is shared)."""
        for room_id in await self._rooms.get_rooms_for_user(user_id):
            if await self._members.joined(room_id):
                return True
        return False

    def _is_local(self, user_id: str) -> bool:
        return user_id.endswith(":" + self._server_name)


def _checked_answer(server: str, user_id: str, answer: Any) -> dict[str, Any]:
    """The answer with only well-formed devices of the user; BadFederationResponse if it
    is not about the user at all."""
    if not isinstance(answer, dict) or answer.get("user_id") != user_id:
        raise BadFederationResponse(server, f"/user/devices answer is not about {user_id}")
    stream_id = answer.get("stream_id")
    devices = answer.get("devices")
    if not isinstance(stream_id, int) or isinstance(stream_id, bool) or not isinstance(devices, list):
        raise BadFederationResponse(server, "/user/devices answer lacks stream_id or devices")
    checked: dict[str, Any] = {
        "user_id": user_id,
        "stream_id": stream_id,
        "devices": [
            device
            for device in devices
            if isinstance(device, dict)
            and isinstance(device.get("device_id"), str)
            and isinstance(device.get("keys"), dict)
            and device["keys"].get("user_id") == user_id
            and device["keys"].get("device_id") == device["device_id"]
        ],
    }
    for field in ("master_key", "self_signing_key"):
        key = answer.get(field)
        if isinstance(key, dict) and key.get("user_id") == user_id:
            checked[field] = key
    return checked


def _with_device_update(kept: dict[str, Any], user_id: str, content: dict[str, Any]) -> dict[str, Any] | None:
    """The kept answer with one device replaced as the update says (removed if deleted
    or without keys, as only devices with keys are listed); None if its keys are not
    the device's."""
    device_id = content["device_id"]
    devices = [device for device in kept["devices"] if device["device_id"] != device_id]
    keys = content.get("keys")
    if content.get("deleted") is not True and keys is not None:
        if not isinstance(keys, dict) or keys.get("user_id") != user_id or keys.get("device_id") != device_id:
            return None
        device: dict[str, Any] = {"device_id": device_id, "keys": keys}
        name = content.get("device_display_name")
        if isinstance(name, str):
            device["device_display_name"] = name
        devices.append(device)
    return {**kept, "stream_id": content["stream_id"], "devices": devices}


def _is_cross_signing_key(key: Any, user_id: str, usage: str) -> bool:
    return (
        isinstance(key, dict)
        and key.get("user_id") == user_id
        and isinstance(key.get("usage"), list)
        and usage in key["usage"]
        and isinstance(key.get("keys"), dict)
    )


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
