"""Which local users are joined to a room: asked on every event to know whom to wake."""

from __future__ import annotations

from collections.abc import Iterable

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

    async def joined_many(self, room_ids: Iterable[str]) -> dict[str, frozenset[str]]:
        """`joined` for many rooms, the uncached ones read in one query (a user's first
        /sync after a restart announces their presence to every room they are in)."""
        found: dict[str, frozenset[str]] = {}
        missing: list[str] = []
        for room_id in room_ids:
            cached = self._joined.get(room_id)
            if cached is None:
                missing.append(room_id)
            else:
                found[room_id] = cached
        if not missing:
            return found
        generations = {room_id: self._generation.get(room_id, 0) for room_id in missing}
        loaded = await self._rooms.get_many_joined_members(missing)
        for room_id in missing:
            members = frozenset(u for u in loaded.get(room_id, ()) if self.is_local(u))
            if self._generation.get(room_id, 0) == generations[room_id]:
                self._joined[room_id] = members
            found[room_id] = members
        return found
