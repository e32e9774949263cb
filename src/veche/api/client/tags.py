"""Room tags (modules/tags.md, data/api/client-server/tags.yaml)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from veche.api.client.account_data import room_id_param
from veche.api.http import CLIENT_PREFIX, json_response, read_json_body
from veche.errors import forbidden

if TYPE_CHECKING:
    from veche.homeserver import HomeServer

V3 = f"{CLIENT_PREFIX}/v3"


def routes(hs: HomeServer) -> list[web.RouteDef]:
    service = hs.user_data.account_data

    async def own_user(request: web.Request) -> str:
        requester = await hs.auth.require(request)
        if requester.user_id != request.match_info["userId"]:
            raise forbidden("Cannot access tags of other users")
        return requester.user_id

    async def get_tags(request: web.Request) -> web.Response:
        user_id = await own_user(request)
        tags = await service.get_tags(user_id, room_id_param(request))
        return json_response({"tags": tags})

    async def put_tag(request: web.Request) -> web.Response:
        user_id = await own_user(request)
        room_id = room_id_param(request)
        content = await read_json_body(request)
        await service.set_tag(user_id, room_id, request.match_info["tag"], content)
        return json_response({})

    async def delete_tag(request: web.Request) -> web.Response:
        user_id = await own_user(request)
        await service.remove_tag(user_id, room_id_param(request), request.match_info["tag"])
        return json_response({})

    return [
        web.get(V3 + "/user/{userId}/rooms/{roomId}/tags", get_tags),
        web.put(V3 + "/user/{userId}/rooms/{roomId}/tags/{tag:[^/]+}", put_tag),
        web.delete(V3 + "/user/{userId}/rooms/{roomId}/tags/{tag:[^/]+}", delete_tag),
    ]
