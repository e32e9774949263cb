"""GET /v1/mutual_rooms (modules/mutual_rooms.md, mutual_rooms.yaml): the rooms both the
requester and another user are joined to."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from veche.api.http import CLIENT_PREFIX, json_response
from veche.errors import invalid_param, missing_param
from veche.protocol.identifiers import is_valid_user_id

if TYPE_CHECKING:
    from veche.homeserver import HomeServer

V1 = f"{CLIENT_PREFIX}/v1"


def routes(hs: HomeServer) -> list[web.RouteDef]:
    rooms = hs.stores.rooms

    async def mutual_rooms(request: web.Request) -> web.Response:
        requester = await hs.auth.require(request)
        other = request.query.get("user_id")
        if other is None:
            raise missing_param("user_id is required")
        if not is_valid_user_id(other, historical=False):
            raise invalid_param("user_id is not a valid user ID")
        if other == requester.user_id:
            raise invalid_param("user_id must be another user")
        # Every answer is complete (no next_batch is ever given), so any `from` is invalid.
        if "from" in request.query:
            raise invalid_param("Unknown or expired from token")
        mine = {m.room_id for m in await rooms.get_memberships_for_user(requester.user_id, ["join"])}
        theirs = await rooms.get_memberships_for_user(other, ["join"])
        joined = sorted(m.room_id for m in theirs if m.room_id in mine)
        return json_response({"joined": joined, "count": len(joined)})

    return [web.get(V1 + "/mutual_rooms", mutual_rooms)]
