"""Typing notifications (modules/typing_notifications.md, typing.yaml)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from veche.api.client.account_data import room_id_param
from veche.api.http import CLIENT_PREFIX, json_response, read_json_body
from veche.errors import bad_json, forbidden

if TYPE_CHECKING:
    from veche.homeserver import HomeServer

V3 = f"{CLIENT_PREFIX}/v3"


def routes(hs: HomeServer) -> list[web.RouteDef]:
    service = hs.user_data.typing

    async def put_typing(request: web.Request) -> web.Response:
        requester = await hs.auth.require(request)
        if requester.user_id != request.match_info["userId"]:
            raise forbidden("Cannot set the typing state of other users")
        room_id = room_id_param(request)
        body = await read_json_body(request)
        typing = body.get("typing")
        if not isinstance(typing, bool):
            raise bad_json("typing must be true or false")
        timeout = body.get("timeout")
        if timeout is not None and (type(timeout) is not int or timeout < 0):
            raise bad_json("timeout must be a non-negative integer of milliseconds")
        await service.set_typing(room_id, requester.user_id, typing, timeout)
        return json_response({})

    return [web.put(V3 + "/rooms/{roomId}/typing/{userId}", put_typing)]
