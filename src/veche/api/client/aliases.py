"""Room aliases (client-server-api/_index.md "Room aliases"; directory.yaml)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from veche.api.http import CLIENT_PREFIX, json_response, read_json_body
from veche.errors import bad_json, invalid_param, missing_param
from veche.protocol.identifiers import InvalidIdentifier, validate_room_id

if TYPE_CHECKING:
    from veche.homeserver import HomeServer

V3 = f"{CLIENT_PREFIX}/v3"


def routes(hs: HomeServer) -> list[web.RouteDef]:
    aliases = hs.room_aliases

    async def put_alias(request: web.Request) -> web.Response:
        requester = await hs.auth.require(request)
        body = await read_json_body(request)
        room_id = body.get("room_id")
        if room_id is None:
            raise missing_param("room_id is required")
        if not isinstance(room_id, str):
            raise bad_json("room_id must be a string")
        await aliases.create(requester.user_id, request.match_info["roomAlias"], room_id)
        return json_response({})

    async def get_alias(request: web.Request) -> web.Response:
        # directory.yaml lists no security for GET: anyone may resolve an alias.
        room_id, servers = await aliases.resolve(request.match_info["roomAlias"])
        return json_response({"room_id": room_id, "servers": servers})

    async def delete_alias(request: web.Request) -> web.Response:
        requester = await hs.auth.require(request)
        await aliases.delete(requester.user_id, request.match_info["roomAlias"])
        return json_response({})

    async def room_aliases(request: web.Request) -> web.Response:
        requester = await hs.auth.require(request, allow_guest=True)
        room_id = request.match_info["roomId"]
        try:
            validate_room_id(room_id)
        except InvalidIdentifier as e:
            raise invalid_param(str(e)) from None
        return json_response({"aliases": await aliases.local_aliases(requester.user_id, room_id)})

    return [
        web.put(V3 + "/directory/room/{roomAlias}", put_alias),
        web.get(V3 + "/directory/room/{roomAlias}", get_alias),
        web.delete(V3 + "/directory/room/{roomAlias}", delete_alias),
        web.get(V3 + "/rooms/{roomId}/aliases", room_aliases),
    ]
