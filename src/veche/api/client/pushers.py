"""Pushers (modules/push.md "Client behaviour", data/api/client-server/pusher.yaml)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from veche.api.http import CLIENT_PREFIX, json_response, read_json_body

if TYPE_CHECKING:
    from veche.homeserver import HomeServer

V3 = f"{CLIENT_PREFIX}/v3"


def routes(hs: HomeServer) -> list[web.RouteDef]:
    pushers = hs.pushers

    async def get_pushers(request: web.Request) -> web.Response:
        requester = await hs.auth.require(request)
        return json_response({"pushers": await pushers.get_pushers(requester.user_id)})

    async def set_pusher(request: web.Request) -> web.Response:
        requester = await hs.auth.require(request)
        await pushers.set_pusher(requester, await read_json_body(request))
        return json_response({})

    return [
        web.get(V3 + "/pushers", get_pushers),
        web.post(V3 + "/pushers/set", set_pusher),
    ]
