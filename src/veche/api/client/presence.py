"""Presence (modules/presence.md, data/api/client-server/presence.yaml)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from veche.api.http import CLIENT_PREFIX, json_response, read_json_body
from veche.errors import bad_json, forbidden

if TYPE_CHECKING:
    from veche.homeserver import HomeServer

V3 = f"{CLIENT_PREFIX}/v3"


def routes(hs: HomeServer) -> list[web.RouteDef]:
    service = hs.user_data.presence

    async def put_status(request: web.Request) -> web.Response:
        requester = await hs.auth.require(request)
        if requester.user_id != request.match_info["userId"]:
            raise forbidden("Cannot set the presence of other users")
        body = await read_json_body(request)
        status_msg = body.get("status_msg")
        if status_msg is not None and not isinstance(status_msg, str):
            raise bad_json("status_msg must be a string")
        await service.set_status(requester.user_id, body.get("presence"), status_msg)
        return json_response({})

    async def get_status(request: web.Request) -> web.Response:
        requester = await hs.auth.require(request)
        return json_response(await service.get_status(requester.user_id, request.match_info["userId"]))

    return [
        web.put(V3 + "/presence/{userId}/status", put_status),
        web.get(V3 + "/presence/{userId}/status", get_status),
    ]
