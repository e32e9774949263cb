"""POST /user_directory/search (users.yaml); the rules live in services/user_directory.py."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from veche.api.http import CLIENT_PREFIX, json_response, read_json_body

if TYPE_CHECKING:
    from veche.homeserver import HomeServer

V3 = f"{CLIENT_PREFIX}/v3"


def routes(hs: HomeServer) -> list[web.RouteDef]:
    directory = hs.user_directory

    async def search(request: web.Request) -> web.Response:
        requester = await hs.auth.require(request)
        body = await read_json_body(request)
        return json_response(await directory.search(requester.user_id, body))

    return [web.post(f"{V3}/user_directory/search", search)]
