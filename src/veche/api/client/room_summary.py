"""GET /v1/room_summary/{roomIdOrAlias} (room_summary.yaml; services/room_summaries.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from veche.api.http import CLIENT_PREFIX, extract_access_token, json_response

if TYPE_CHECKING:
    from veche.homeserver import HomeServer

V1 = f"{CLIENT_PREFIX}/v1"


def routes(hs: HomeServer) -> list[web.RouteDef]:
    async def get_summary(request: web.Request) -> web.Response:
        # The spec lets servers answer without authentication for rooms anyone may see;
        # a token that is sent must still be valid.
        requester = None
        if extract_access_token(request) is not None:
            requester = (await hs.auth.require(request, allow_guest=True)).user_id
        via = request.query.getall("via", [])
        summary = await hs.room_summaries.summary(requester, request.match_info["roomIdOrAlias"], via)
        return json_response(summary)

    return [web.get(V1 + "/room_summary/{roomIdOrAlias}", get_summary)]
