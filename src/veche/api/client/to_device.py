"""Send-to-device messaging (to_device.yaml); guests may use it (modules/guest_access.md)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from veche.api.http import CLIENT_PREFIX, json_response, read_json_body
from veche.errors import missing_param

if TYPE_CHECKING:
    from veche.homeserver import HomeServer

V3 = f"{CLIENT_PREFIX}/v3"


def routes(hs: HomeServer) -> list[web.RouteDef]:
    to_device = hs.e2ee.to_device

    async def send(request: web.Request) -> web.Response:
        requester = await hs.auth.require(request, allow_guest=True)
        body = await read_json_body(request)
        if "messages" not in body:
            raise missing_param("Missing messages")
        await to_device.send(
            requester, request.match_info["eventType"], request.match_info["txnId"], body["messages"]
        )
        return json_response({})

    return [web.put(f"{V3}/sendToDevice/{{eventType}}/{{txnId}}", send)]
