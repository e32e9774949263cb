"""Account data (modules/account_data.md, data/api/client-server/account-data.yaml)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from veche.api.http import CLIENT_PREFIX, json_response, read_json_body
from veche.errors import MatrixError, forbidden, not_found
from veche.protocol.identifiers import InvalidIdentifier, validate_room_id

if TYPE_CHECKING:
    from veche.homeserver import HomeServer

V3 = f"{CLIENT_PREFIX}/v3"


def routes(hs: HomeServer) -> list[web.RouteDef]:
    service = hs.user_data.account_data

    async def put_global(request: web.Request) -> web.Response:
        user_id = await _own_user(hs, request)
        content = await read_json_body(request)
        await service.set_account_data(user_id, None, request.match_info["type"], content)
        return json_response({})

    async def get_global(request: web.Request) -> web.Response:
        user_id = await _own_user(hs, request)
        content = await service.get_account_data(user_id, None, request.match_info["type"])
        if content is None:
            raise not_found("Account data not found")
        return json_response(content)

    async def put_room(request: web.Request) -> web.Response:
        user_id = await _own_user(hs, request)
        room_id = room_id_param(request)
        content = await read_json_body(request)
        await service.set_account_data(user_id, room_id, request.match_info["type"], content)
        return json_response({})

    async def get_room(request: web.Request) -> web.Response:
        user_id = await _own_user(hs, request)
        room_id = room_id_param(request)
        content = await service.get_account_data(user_id, room_id, request.match_info["type"])
        if content is None:
            raise not_found("Room account data not found")
        return json_response(content)

    return [
        web.put(V3 + "/user/{userId}/account_data/{type:[^/]+}", put_global),
        web.get(V3 + "/user/{userId}/account_data/{type:[^/]+}", get_global),
        web.put(V3 + "/user/{userId}/rooms/{roomId}/account_data/{type:[^/]+}", put_room),
        web.get(V3 + "/user/{userId}/rooms/{roomId}/account_data/{type:[^/]+}", get_room),
    ]


async def _own_user(hs: HomeServer, request: web.Request) -> str:
    requester = await hs.auth.require(request)
    if requester.user_id != request.match_info["userId"]:
        raise forbidden("Cannot access account data of other users")
    return requester.user_id


def room_id_param(request: web.Request) -> str:
    """The path's roomId, or 400 M_INVALID_PARAM if it is not a room ID."""
    room_id = request.match_info["roomId"]
    try:
        validate_room_id(room_id)
    except InvalidIdentifier as e:
        raise MatrixError(400, "M_INVALID_PARAM", str(e)) from None
    return room_id
