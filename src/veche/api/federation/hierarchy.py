"""GET /_matrix/federation/v1/hierarchy/{roomId} (server-server space_hierarchy.yaml)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from veche.api.http import json_response
from veche.errors import invalid_param

if TYPE_CHECKING:
    from veche.homeserver import HomeServer


def routes(hs: HomeServer) -> list[web.RouteDef]:
    async def hierarchy(request: web.Request) -> web.Response:
        origin = await hs.server_auth.require(request)
        suggested_only = request.query.get("suggested_only", "false")
        if suggested_only not in ("true", "false"):
            raise invalid_param("suggested_only must be true or false")
        answer = await hs.space_summaries.hierarchy(
            origin, request.match_info["roomId"], suggested_only=suggested_only == "true"
        )
        return json_response(answer)

    return [web.get("/_matrix/federation/v1/hierarchy/{roomId}", hierarchy)]
