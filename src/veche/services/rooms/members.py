"""Which local users are joined to a room: asked on every event to know whom to wake."""

from __future__ import annotations

from veche.storage.rooms import RoomStore


class LocalMembers:
    """A cache of each room's joined local users, dropped whenever a member event lands."""

    def __init__(self, rooms: RoomStore, server_name: str) -> None:
        self._rooms = rooms
        self._suffix = ":" + server_name
        self._joined: dict[str, frozenset[str]] = {}
        self._generation: dict[str, int] = {}

    def invalidate(self, room_id: str) -> None:
        self._joined.pop(room_id, None)
        self._generation[room_id] = self._generation.get(room_id, 0) + 1

    def is_local(self, user_id: str) -> bool:
        return user_id.endswith(self._suffix) and user_id.index(":") == len(user_id) - len(self._suffix)

    async def joined(self, room_id: str) -> frozenset[str]:
        cached = self._joined.get(room_id)
        if cached is not None:
            return cached
        generation = self._generation.get(room_id, 0)
        members = frozenset(u for u in await self._rooms.get_joined_members(room_id) if self.is_local(u))
        # A member event that landed while we read makes this answer stale: don't keep it.
        if self._generation.get(room_id, 0) == generation:
            self._joined[room_id] = members
        return members
