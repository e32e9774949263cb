"""GET /rooms/{roomId}/hierarchy (modules/spaces.md, space_hierarchy.yaml): a depth-first
walk of the space tree through m.space.child links, one page at a time.

Rooms this server holds are read from their state; a child it does not hold is asked of
the servers its m.space.child link names (`RemoteHierarchy`, federation's /hierarchy),
whose answer also describes that room's own children. A page's unvisited rooms are kept
in memory under its next_batch token for a while, so pagination is stable and loops end
(each room is shown once per walk).
"""

from __future__ import annotations

import secrets
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from veche.errors import forbidden, invalid_param
from veche.protocol.events import StateMap
from veche.protocol.spaces import (
    SPACE_CHILD,
    SPACE_ROOM_TYPE,
    may_see_in_hierarchy,
    may_see_remote_summary,
    room_summary,
    room_type,
    space_children,
    stripped_child_state,
    stripped_space_children,
)
from veche.storage.stores import EventStores

DEFAULT_LIMIT = 50
MAX_LIMIT = 100
MAX_DEPTH = 20
# Pagination tokens live this long, and at most this many at a time.
SESSION_TTL_SECONDS = 5 * 60
MAX_SESSIONS = 10_000

SUMMARY_TYPES = (
    "m.room.create",
    "m.room.join_rules",
    "m.room.history_visibility",
    "m.room.guest_access",
    "m.room.name",
    "m.room.topic",
    "m.room.canonical_alias",
    "m.room.avatar",
    "m.room.encryption",
    SPACE_CHILD,
)


@dataclass(frozen=True, slots=True)
class HierarchyRequest:
    room_id: str
    suggested_only: bool = False
    limit: int = DEFAULT_LIMIT
    max_depth: int = MAX_DEPTH
    from_token: str | None = None


class RemoteHierarchy(Protocol):
    async def summaries(self, room_id: str, via: Sequence[str], suggested_only: bool) -> dict[str, Any] | None:
        """A federation /hierarchy answer (room, children, inaccessible_children) from one
        of the `via` servers, or None if none gave one."""
        ...


@dataclass(slots=True)
class _Walk:
    requester: str
    room_id: str
    suggested_only: bool
    max_depth: int
    # Rooms still to visit as (room_id, depth); the next one is at the end.
    stack: list[tuple[str, int]]
    visited: set[str] = field(default_factory=set)
    expires: float = 0.0
    # Rooms this server does not hold: the servers their links name, the summaries other
    # servers gave along with a parent, and those they said cannot be reached.
    via: dict[str, list[str]] = field(default_factory=dict)
    remote: dict[str, dict[str, Any]] = field(default_factory=dict)
    inaccessible: set[str] = field(default_factory=set)


class SpaceHierarchy:
    def __init__(
        self,
        stores: EventStores,
        clock: Callable[[], float] = time.monotonic,
        remote: RemoteHierarchy | None = None,
    ) -> None:
        self._events = stores.events
        self._rooms = stores.rooms
        self._clock = clock
        self._remote = remote
        self._walks: OrderedDict[str, _Walk] = OrderedDict()

    async def get_hierarchy(self, requester: str, request: HierarchyRequest) -> dict[str, Any]:
        joined_rooms = set(await self._rooms.get_rooms_for_user(requester))
        if request.from_token is not None:
            walk = self._resume(requester, request.from_token, request)
        else:
            walk = await self._start(requester, request, joined_rooms)
        rooms: list[dict[str, Any]] = []
        while walk.stack and len(rooms) < request.limit:
            room_id, depth = walk.stack.pop()
            if room_id in walk.visited:
                continue
            walk.visited.add(room_id)
            chunk = await self._visit(requester, room_id, depth, walk, joined_rooms)
            if chunk is not None:
                rooms.append(chunk)
        response: dict[str, Any] = {"rooms": rooms}
        if walk.stack:
            response["next_batch"] = self._save(walk)
        return response

    async def _start(self, requester: str, request: HierarchyRequest, joined_rooms: set[str]) -> _Walk:
        room_version = await self._rooms.get_room_version(request.room_id)
        state = await self._summary_state(request.room_id)
        if room_version is None or not state:
            raise forbidden("You are not allowed to view this room")
        membership = await self._membership(request.room_id, requester)
        if not may_see_in_hierarchy(room_version, state, membership, joined_rooms):
            raise forbidden("You are not allowed to view this room")
        return _Walk(requester, request.room_id, request.suggested_only, request.max_depth, [(request.room_id, 0)])

    def _resume(self, requester: str, token: str, request: HierarchyRequest) -> _Walk:
        self._expire()
        walk = self._walks.pop(token, None)
        if walk is None or walk.requester != requester or walk.room_id != request.room_id:
            raise invalid_param("Unknown pagination token")
        if walk.suggested_only != request.suggested_only or walk.max_depth != request.max_depth:
            raise invalid_param("suggested_only and max_depth cannot change on paginated requests")
        return walk

    def _save(self, walk: _Walk) -> str:
        self._expire()
        while len(self._walks) >= MAX_SESSIONS:
            self._walks.popitem(last=False)
        token = secrets.token_urlsafe(16)
        walk.expires = self._clock() + SESSION_TTL_SECONDS
        self._walks[token] = walk
        return token

    def _expire(self) -> None:
        now = self._clock()
        while self._walks:
            token, walk = next(iter(self._walks.items()))
            if walk.expires > now:
                break
            del self._walks[token]

    async def _visit(
        self, requester: str, room_id: str, depth: int, walk: _Walk, joined_rooms: set[str]
    ) -> dict[str, Any] | None:
        room_version = await self._rooms.get_room_version(room_id)
        state = await self._summary_state(room_id)
        if room_version is None or not state:
            return await self._visit_remote(room_id, depth, walk, joined_rooms)
        membership = await self._membership(room_id, requester)
        if not may_see_in_hierarchy(room_version, state, membership, joined_rooms):
            return None
        children = []
        if room_type(state) == SPACE_ROOM_TYPE:
            children = space_children(state, suggested_only=walk.suggested_only)
        num_joined = len(await self._rooms.get_joined_members(room_id))
        chunk = room_summary(room_id, room_version, state, num_joined)
        chunk["children_state"] = [stripped_child_state(child) for child in children]
        if depth < walk.max_depth:
            # Reversed onto the stack, so the first child is visited next (depth first).
            walk.stack.extend((child.state_key or "", depth + 1) for child in reversed(children))
            for child in children:
                walk.via.setdefault(child.state_key or "", child.content["via"])
        return chunk

    async def _visit_remote(
        self, room_id: str, depth: int, walk: _Walk, joined_rooms: set[str]
    ) -> dict[str, Any] | None:
        if self._remote is None or room_id in walk.inaccessible:
            return None
        summary = walk.remote.pop(room_id, None)
        if summary is None or "children_state" not in summary:
            answer = await self._remote.summaries(room_id, walk.via.get(room_id, []), walk.suggested_only)
            if answer is None:
                return None
            summary = answer["room"]
            _remember(walk, answer)
        if summary.get("room_id") != room_id or not may_see_remote_summary(summary, joined_rooms):
            return None
        children = []
        if summary.get("room_type") == SPACE_ROOM_TYPE:
            children = stripped_space_children(summary.get("children_state"), suggested_only=walk.suggested_only)
        chunk = {**summary, "children_state": children}
        if depth < walk.max_depth:
            walk.stack.extend((child["state_key"], depth + 1) for child in reversed(children))
            for child in children:
                walk.via.setdefault(child["state_key"], child["content"]["via"])
        return chunk

    async def _summary_state(self, room_id: str) -> StateMap:
        return await self._events.get_current_state(room_id, SUMMARY_TYPES)

    async def _membership(self, room_id: str, user_id: str) -> str | None:
        event = await self._events.get_current_state_event(room_id, "m.room.member", user_id)
        return event.membership if event is not None else None


def _remember(walk: _Walk, answer: dict[str, Any]) -> None:
    """Keeps what another server said of a room's children for when the walk gets there."""
    children = answer.get("children")
    for child in children if isinstance(children, list) else []:
        if isinstance(child, dict) and isinstance(child.get("room_id"), str):
            walk.remote.setdefault(child["room_id"], child)
    inaccessible = answer.get("inaccessible_children")
    if isinstance(inaccessible, list):
        walk.inaccessible.update(r for r in inaccessible if isinstance(r, str))
