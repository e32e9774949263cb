"""Device-list tracking (modules/end_to_end_encryption.md "Tracking the device list for a
user" and "Extensions to /sync"): who must re-query whose keys, and who no longer shares
any room with whom.

Key changes are a stream of their own; membership changes are read from the room
memberships that became current in the events-stream range a sync covers, so joins and
leaves need no extra writes on the sending path.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from veche.services.notifier import Notifier
from veche.services.rooms.members import LocalMembers
from veche.services.streams import Stream, StreamToken
from veche.storage.device_lists import DeviceListStore
from veche.storage.rooms import RoomStore

JOIN = "join"
GONE = ("leave", "ban")


class DeviceLists:
    def __init__(self, store: DeviceListStore, rooms: RoomStore, members: LocalMembers, notifier: Notifier) -> None:
        self._store = store
        self._rooms = rooms
        self._members = members
        self._notifier = notifier
        notifier.advance(Stream.DEVICE_LISTS, store.current_position)
        # Each called with the user ID before a change is announced (drops kept copies).
        self.on_keys_changed: list[Callable[[str], Awaitable[None]]] = []

    async def keys_changed(self, user_id: str) -> None:
        """The user's devices or cross-signing keys changed: tell everyone who shares a room."""
        for hook in self.on_keys_changed:
            await hook(user_id)
        position = await self._store.record_change(user_id)
        audience = {user_id}
        for room_id in await self._rooms.get_rooms_for_user(user_id):
            audience |= await self._members.joined(room_id)
        self._notifier.notify(
            Stream.DEVICE_LISTS, position, audience, visible_upto=self._store.current_position
        )

    async def latest_position(self, user_id: str) -> int:
        """Where the user's device list stands: the stream_id of user_devices.yaml."""
        return await self._store.latest_change(user_id)

    async def changes(self, user_id: str, since: StreamToken, to: StreamToken) -> tuple[list[str], list[str]]:
        """(changed, left) between two tokens, as /sync's device_lists and /keys/changes give them."""
        changed: set[str] = set()
        key_changes = await self._store.changed_users(since.device_lists, to.device_lists)
        if key_changes:
            changed |= await self._store.users_sharing_a_room(user_id, key_changes - {user_id})
            if user_id in key_changes:
                # The user's other devices track the user's own device list too.
                changed.add(user_id)

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
