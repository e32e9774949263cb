"""GET /voip/turnServer (modules/voip_events.md, voip.yaml)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from veche.api.http import CLIENT_PREFIX, json_response

if TYPE_CHECKING:
    from veche.homeserver import HomeServer

V3 = f"{CLIENT_PREFIX}/v3"


def routes(hs: HomeServer) -> list[web.RouteDef]:
    async def turn_server(request: web.Request) -> web.Response:
        requester = await hs.auth.require(request)
        return json_response(hs.turn.credentials_for(requester.user_id))

    return [web.get(V3 + "/voip/turnServer", turn_server)]
