"""Server-side search (modules/search.md, data/api/client-server/search.yaml)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from veche.api.http import CLIENT_PREFIX, json_response, read_json_body

if TYPE_CHECKING:
    from veche.homeserver import HomeServer

V3 = f"{CLIENT_PREFIX}/v3"


def routes(hs: HomeServer) -> list[web.RouteDef]:
    search = hs.search

    async def post_search(request: web.Request) -> web.Response:
        requester = await hs.auth.require(request)
        body = await read_json_body(request)
        return json_response(await search.search(requester, body, request.query.get("next_batch")))

    return [web.post(V3 + "/search", post_search)]
