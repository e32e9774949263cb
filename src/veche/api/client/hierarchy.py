"""GET /v1/rooms/{roomId}/hierarchy (space_hierarchy.yaml); the walk lives in
services/rooms/hierarchy.py."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from aiohttp import web

from veche.api.http import CLIENT_PREFIX, json_response
from veche.errors import invalid_param
from veche.protocol.identifiers import InvalidIdentifier, validate_room_id
from veche.services.rooms.hierarchy import DEFAULT_LIMIT, MAX_DEPTH, MAX_LIMIT, HierarchyRequest

if TYPE_CHECKING:
    from veche.homeserver import HomeServer

V1 = f"{CLIENT_PREFIX}/v1"


def routes(hs: HomeServer) -> list[web.RouteDef]:
    hierarchy = hs.space_hierarchy

    async def get_hierarchy(request: web.Request) -> web.Response:
        requester = await hs.auth.require(request, allow_guest=True)
        return json_response(await hierarchy.get_hierarchy(requester.user_id, parse_request(request)))

    return [web.get(V1 + "/rooms/{roomId}/hierarchy", get_hierarchy)]


def parse_request(request: web.Request) -> HierarchyRequest:
    room_id = request.match_info["roomId"]
    try:
        validate_room_id(room_id)
    except InvalidIdentifier as e:
        raise invalid_param(str(e)) from None
    query = request.query
    limit = _int_param(query, "limit", DEFAULT_LIMIT, minimum=1)
    max_depth = _int_param(query, "max_depth", MAX_DEPTH, minimum=0)
    return HierarchyRequest(
        room_id=room_id,
        suggested_only=_bool_param(query, "suggested_only"),
        # Servers impose maxima (space_hierarchy.yaml) so one request stays cheap.
        limit=min(limit, MAX_LIMIT),
        max_depth=min(max_depth, MAX_DEPTH),
        from_token=query.get("from"),
    )


def _int_param(query: Mapping[str, str], name: str, default: int, *, minimum: int) -> int:
    raw = query.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise invalid_param(f"{name} must be an integer") from None
    if value < minimum:
        raise invalid_param(f"{name} must be at least {minimum}")
    return value


def _bool_param(query: Mapping[str, str], name: str) -> bool:
    raw = query.get(name, "false")
    if raw not in ("true", "false"):
        raise invalid_param(f"{name} must be true or false")
    return raw == "true"
