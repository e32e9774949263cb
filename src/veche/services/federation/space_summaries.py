"""GET /_matrix/federation/v1/hierarchy/{roomId} (server-server space_hierarchy.yaml): a
space and its direct children, for a server walking the space on its users' behalf.

Unlike the client endpoint this does not paginate or recurse: the room, each child this
server holds that the requesting server could peek or join, and the IDs of the children
it could not. Children this server does not hold are left out, as the spec says.
"""

from __future__ import annotations

from typing import Any

from veche.errors import not_found
from veche.protocol.events import Event, StateMap
from veche.protocol.room_versions import RoomVersion
from veche.protocol.spaces import (
    SPACE_ROOM_TYPE,
    may_server_see_in_hierarchy,
    room_summary,
    room_type,
    space_children,
    stripped_child_state,
)
from veche.services.federation.acl import ServerAclChecker
from veche.services.rooms.hierarchy import SUMMARY_TYPES
from veche.storage.stores import EventStores


class SpaceSummaries:
    def __init__(self, stores: EventStores, acl: ServerAclChecker) -> None:
        self._events = stores.events
        self._rooms = stores.rooms
        self._acl = acl

    async def hierarchy(self, origin: str, room_id: str, *, suggested_only: bool) -> dict[str, Any]:
        """404 if the room is unknown here or `origin` could not peek or join it; 403 if
        the room's ACL bans `origin`."""
        loaded = await self._load(room_id)
        if loaded is None:
            raise not_found("Room does not exist")
        await self._acl.check(room_id, origin)
        room_version, state, members = loaded
        if not may_server_see_in_hierarchy(room_version, state, _has_member(members, origin)):
            raise not_found("Room does not exist")
        room = self._summary(room_id, room_version, state, members, suggested_only)
        children: list[dict[str, Any]] = []
        inaccessible: list[str] = []
        for child in _children(state, suggested_only):
            child_id = child.state_key or ""
            child_loaded = await self._load(child_id)
            if child_loaded is None:
                continue
            child_version, child_state, child_members = child_loaded
            if await self._acl.is_allowed(child_id, origin) and may_server_see_in_hierarchy(
                child_version, child_state, _has_member(child_members, origin)
            ):
                children.append(
                    self._summary(child_id, child_version, child_state, child_members, suggested_only)
                )
            else:
                inaccessible.append(child_id)
        return {"room": room, "children": children, "inaccessible_children": inaccessible}

    async def _load(self, room_id: str) -> tuple[RoomVersion, StateMap, dict[str, str]] | None:
        room_version = await self._rooms.get_room_version(room_id)
        if room_version is None:
            return None
        state = await self._events.get_current_state(room_id, SUMMARY_TYPES)
        if not state:
            return None
        return room_version, state, await self._rooms.get_members(room_id, ["join", "invite"])

    @staticmethod
    def _summary(
        room_id: str, room_version: RoomVersion, state: StateMap, members: dict[str, str], suggested_only: bool
    ) -> dict[str, Any]:
        joined = sum(1 for membership in members.values() if membership == "join")
        summary = room_summary(room_id, room_version, state, joined)
        summary["children_state"] = [stripped_child_state(child) for child in _children(state, suggested_only)]
        return summary


def _children(state: StateMap, suggested_only: bool) -> list[Event]:
    """The child links that count: only a space's (space_hierarchy.yaml)."""
    if room_type(state) != SPACE_ROOM_TYPE:
        return []
    return space_children(state, suggested_only=suggested_only)


def _has_member(members: dict[str, str], server_name: str) -> bool:
    """Whether a user of `server_name` is joined to or invited into the room."""
    return any(user_id.endswith(":" + server_name) for user_id in members)
