"""GET /v1/room_summary/{roomIdOrAlias} (client-server-api/_index.md, "Room Summaries";
room_summary.yaml): what a room is, for someone deciding whether to join it.

A room is summarised to whoever could see it in a space hierarchy (a member, or anyone when
it is public, knockable, world readable or restricted to a room they are in). A room this
server does not hold is summarised from another server's federation /hierarchy answer,
asked of the `via` servers.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from veche.errors import not_found
from veche.protocol.spaces import may_see_in_hierarchy, may_see_remote_summary, room_summary
from veche.services.rooms.aliases import RoomAliases
from veche.services.rooms.hierarchy import SUMMARY_TYPES, RemoteHierarchy
from veche.storage.stores import EventStores

# The spec's 404 answer; the same whether the room is unknown or hidden from the requester.
_NOT_FOUND = "Room not found."


class RoomSummaries:
    def __init__(self, stores: EventStores, aliases: RoomAliases, remote: RemoteHierarchy | None = None) -> None:
        self._events = stores.events
        self._rooms = stores.rooms
        self._aliases = aliases
        self._remote = remote

    async def summary(self, requester: str | None, room_id_or_alias: str, via: Sequence[str]) -> dict[str, Any]:
        """The summary for `requester` (None: unauthenticated); 404 if unknown or not visible."""
        room_id = room_id_or_alias
        servers = list(via)
        if room_id_or_alias.startswith("#"):
            room_id, alias_servers = await self._aliases.resolve(room_id_or_alias)
            servers += [s for s in alias_servers if s not in servers]
        joined_rooms = set(await self._rooms.get_rooms_for_user(requester)) if requester is not None else set()
        room_version = await self._rooms.get_room_version(room_id)
        state = await self._events.get_current_state(room_id, SUMMARY_TYPES) if room_version is not None else {}
        if room_version is None or not state:
            return await self._remote_summary(room_id, servers, joined_rooms)
        membership = None
        if requester is not None:
            member = await self._events.get_current_state_event(room_id, "m.room.member", requester)
            membership = member.membership if member is not None else None
        if not may_see_in_hierarchy(room_version, state, membership, joined_rooms):
            raise not_found(_NOT_FOUND)
        num_joined = len(await self._rooms.get_joined_members(room_id))
        summary = room_summary(room_id, room_version, state, num_joined)
        if membership is not None:
            summary["membership"] = membership
        return summary

    async def _remote_summary(self, room_id: str, servers: list[str], joined_rooms: set[str]) -> dict[str, Any]:
        if self._remote is None or not servers:
            raise not_found(_NOT_FOUND)
        answer = await self._remote.summaries(room_id, servers, suggested_only=False)
        summary = answer.get("room") if answer is not None else None
        if not isinstance(summary, dict) or summary.get("room_id") != room_id:
            raise not_found(_NOT_FOUND)
        if not may_see_remote_summary(summary, joined_rooms):
            raise not_found(_NOT_FOUND)
        summary = {k: v for k, v in summary.items() if k != "children_state"}
        return summary
