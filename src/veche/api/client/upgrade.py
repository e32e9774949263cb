"""POST /rooms/{roomId}/upgrade (modules/room_upgrades.md; room_upgrades.yaml)."""

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
    async def upgrade(request: web.Request) -> web.Response:
        requester = await hs.auth.require(request)
        room_id = request.match_info["roomId"]
        try:
            validate_room_id(room_id)
        except InvalidIdentifier as e:
            raise invalid_param(str(e)) from None
        body = await read_json_body(request)
        new_version = body.get("new_version")
        if new_version is None:
            raise missing_param("new_version is required")
        if not isinstance(new_version, str):
            raise bad_json("new_version must be a string")
        creators = body.get("additional_creators", [])
        if not isinstance(creators, list) or not all(isinstance(c, str) for c in creators):
            raise bad_json("additional_creators must be a list of user IDs")
        replacement = await hs.room_upgrader.upgrade(requester.user_id, room_id, new_version, creators)
        return json_response({"replacement_room": replacement})

    return [web.post(V3 + "/rooms/{roomId}/upgrade", upgrade)]
