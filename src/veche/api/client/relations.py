"""Relations and threads (relations.yaml, threads_list.yaml)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from veche.api.client.events import V1, event_id_of, parse_dir, parse_limit, room_id_of
from veche.api.http import json_response
from veche.errors import invalid_param

if TYPE_CHECKING:
    from veche.homeserver import HomeServer

DEFAULT_RELATIONS_LIMIT = 50
DEFAULT_THREADS_LIMIT = 20
MAX_LIMIT = 100


def routes(hs: HomeServer) -> list[web.RouteDef]:
    reader = hs.relations_reader
    now_ms = hs.sender.now_ms

    async def get_relations(request: web.Request) -> web.Response:
        requester = await hs.auth.require(request)
        query = request.query
        response = await reader.relations(
            requester,
            room_id_of(request),
            event_id_of(request),
            rel_type=request.match_info.get("relType"),
            event_type=request.match_info.get("eventType"),
            from_token=query.get("from") or None,
            to_token=query.get("to") or None,
            direction=parse_dir(query.get("dir"), default="b"),
            limit=parse_limit(query.get("limit"), DEFAULT_RELATIONS_LIMIT, MAX_LIMIT),
            recurse=parse_bool(query.get("recurse"), "recurse"),
            now_ms=now_ms(),
        )
        return json_response(response)

    async def get_threads(request: web.Request) -> web.Response:
        requester = await hs.auth.require(request)
        query = request.query
        include = query.get("include", "all")
        if include not in ("all", "participated"):
            raise invalid_param("include must be 'all' or 'participated'")
        response = await reader.threads(
            requester,
            room_id_of(request),
            include="all" if include == "all" else "participated",
            from_token=query.get("from") or None,
            limit=parse_limit(query.get("limit"), DEFAULT_THREADS_LIMIT, MAX_LIMIT),
            now_ms=now_ms(),
        )
        return json_response(response)

    base = V1 + "/rooms/{roomId}/relations/{eventId}"
    return [
        web.get(base, get_relations),
        web.get(base + "/{relType}", get_relations),
        web.get(base + "/{relType}/{eventType}", get_relations),
        web.get(V1 + "/rooms/{roomId}/threads", get_threads),
    ]


def parse_bool(value: str | None, name: str) -> bool | None:
    if value is None:
        return None
    if value in ("true", "false"):
        return value == "true"
    raise invalid_param(f"{name} must be 'true' or 'false'")
