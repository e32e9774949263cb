"""Device-list tracking (modules/end_to_end_encryption.md "Tracking the device list for a
user" and "Extensions to /sync"): who must re-query whose keys, and who no longer shares
any room with whom.

Key changes are a stream of their own; membership changes are read from the room
memberships that became current in the events-stream range a sync covers, so joins and
leaves need no extra writes on the sending path.

A local user's device changes (`devices_changed`) take one stream position each; those
positions are the stream_id and prev_id of the m.device_list_update EDUs the hooks send
(server-server-api.md "Device Management"), so a peer that kept the user's list at the
previous position can apply the next change alone. Cross-signing changes
(`signing_keys_changed`) are positions outside that sequence.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from veche.services.keyed_lock import KeyedLock
from veche.services.notifier import Notifier
from veche.services.rooms.members import LocalMembers
from veche.services.streams import Stream, StreamToken
from veche.storage.device_lists import DeviceListStore
from veche.storage.rooms import RoomStore

logger = logging.getLogger(__name__)

T = TypeVar("T")

JOIN = "join"
GONE = ("leave", "ban")


@dataclass(frozen=True, slots=True)
class DeviceChange:
    """One change of a local user's device, numbered as its m.device_list_update says
    (server-server-api.md "Device Management"): `prev_id` is the user's change before it,
    0 for the first."""

    user_id: str
    device_id: str
    stream_id: int
    prev_id: int
    deleted: bool


DeviceChangeHook = Callable[[list[DeviceChange]], Awaitable[None]]
SigningKeysHook = Callable[[str], Awaitable[None]]


class DeviceLists:
    def __init__(self, store: DeviceListStore, rooms: RoomStore, members: LocalMembers, notifier: Notifier) -> None:
        self._store = store
        self._rooms = rooms
        self._members = members
        self._notifier = notifier
        # One local user's changes are numbered and announced one at a time, so their
        # EDUs leave in sequence and each prev_id is the change just before.
        self._sequence = KeyedLock()
        notifier.advance(Stream.DEVICE_LISTS, store.current_position)
        # Called with a local user's device changes once recorded (federation sends them).
        self.on_local_device_change: list[DeviceChangeHook] = []
        # Called with a local user whose master or self-signing key changed.
        self.on_local_signing_keys_change: list[SigningKeysHook] = []

    async def keys_changed(self, user_id: str) -> None:
        """The user's keys changed in a way other servers need not hear of from here (a
        remote user's announced change, signatures only the signer sees): tell the local
        users who share a room."""
        await self._record(user_id, [None])

    async def devices_changed(self, user_id: str, device_ids: list[str], *, deleted: bool = False) -> None:
        """A local user's devices were added, renamed, deleted or given new keys or
        signatures: one change each, told to local users and, through the hooks, to the
        servers that share a room."""
        if not device_ids:
            return
        async with self._sequence.hold(user_id):
            prev_id = await self._store.latest_device_change(user_id)
            positions = await self._record(user_id, list(device_ids))
            changes = []
            for device_id, position in zip(device_ids, positions, strict=True):
                changes.append(DeviceChange(user_id, device_id, position, prev_id, deleted))
                prev_id = position
            await _run_hooks(self.on_local_device_change, changes)

    async def signing_keys_changed(self, user_id: str) -> None:
        """A local user's master or self-signing key changed."""
        async with self._sequence.hold(user_id):
            await self._record(user_id, [None])
            await _run_hooks(self.on_local_signing_keys_change, user_id)

    async def _record(self, user_id: str, device_ids: list[str | None]) -> list[int]:
        positions = await self._store.record_changes(user_id, device_ids)
        audience = {user_id}
        for room_id in await self._rooms.get_rooms_for_user(user_id):
            audience |= await self._members.joined(room_id)
        self._notifier.notify(
            Stream.DEVICE_LISTS, positions[-1], audience, visible_upto=self._store.current_position
        )
        return positions

    async def latest_position(self, user_id: str) -> int:
        """Where the user's device list stands: the stream_id of user_devices.yaml, which
        the user's next m.device_list_update names as its prev_id."""
        return await self._store.latest_device_change(user_id)

    async def latest_change(self, user_id: str) -> DeviceChange | None:
        """A local user's last device change as its m.device_list_update numbered it, None
        if their devices never changed; `deleted` is left for the sender to tell."""
        latest = await self._store.latest_device_changes(user_id, 2)
        if not latest:
            return None
        (device_id, stream_id), prev_id = latest[0], latest[1][1] if len(latest) > 1 else 0
        return DeviceChange(user_id, device_id, stream_id, prev_id, deleted=False)

    async def changes(self, user_id: str, since: StreamToken, to: StreamToken) -> tuple[list[str], list[str]]:
        """(changed, left) between two tokens, as /sync's device_lists and /keys/changes give them."""
        changed: set[str] = set()
        key_changes = await self._store.changed_users(since.device_lists, to.device_lists)
        if key_changes:
            changed |= await self._store.users_sharing_a_room(user_id, key_changes - {user_id})
            if user_id in key_changes:
                # The user's other devices track the user's own device list too.
                changed.add(user_id)

        memberships = []
        # The rooms the query looks in: joined now, or the user's own membership changed.
        rooms = [
            m.room_id for m in await self._rooms.get_memberships_for_user(user_id)
            if m.membership == JOIN or m.stream_ordering > since.events
        ]
        if self._rooms.rooms_with_member_changes(rooms, since.events):
            memberships = await self._store.membership_changes(user_id, since.events, to.events)
        my_new_rooms = {c.room_id for c in memberships if c.user_id == user_id and c.membership == JOIN}
        my_left_rooms = {c.room_id for c in memberships if c.user_id == user_id and c.membership in GONE}
        maybe_left: set[str] = set()
        for c in memberships:
            if c.room_id in my_left_rooms:
                maybe_left.add(c.user_id)
            elif c.user_id != user_id and c.membership == JOIN:
                changed.add(c.user_id)
            elif c.user_id != user_id and c.membership in GONE:
                maybe_left.add(c.user_id)
        # The spec allows naming users in `changed` on any newly shared room, even if
        # another room was already shared ("Extensions to /sync", note).
        changed |= await self._store.joined_members(my_new_rooms)
        maybe_left |= await self._store.joined_members(my_left_rooms)
        if user_id not in key_changes:
            changed.discard(user_id)
        maybe_left.discard(user_id)
        left = maybe_left - await self._store.users_sharing_a_room(user_id, maybe_left)
        return sorted(changed - left), sorted(left)


async def _run_hooks(hooks: list[Callable[[T], Awaitable[None]]], argument: T) -> None:
    for hook in hooks:
        # The change is recorded whatever a follower does; one failing must not stop the rest.
        try:
            await hook(argument)
        except Exception:
            logger.exception("Device-list hook %r failed", hook)
