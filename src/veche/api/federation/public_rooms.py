"""GET and POST /_matrix/federation/v1/publicRooms (server-server public_rooms.yaml): this
server's published room directory, for other servers' users."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from veche.api.client.directory import public_rooms_query
from veche.api.federation.auth import read_federation_body
from veche.api.http import json_response
from veche.errors import invalid_param
from veche.services.rooms.directory import PublicRoomsQuery

if TYPE_CHECKING:
    from veche.homeserver import HomeServer

PUBLIC_ROOMS = "/_matrix/federation/v1/publicRooms"


def routes(hs: HomeServer) -> list[web.RouteDef]:
    async def get_public_rooms(request: web.Request) -> web.Response:
        await hs.server_auth.require(request)
        return json_response(await hs.public_rooms.public_rooms(_get_query(request)))

    async def post_public_rooms(request: web.Request) -> web.Response:
        await hs.server_auth.require(request)
        body = await read_federation_body(request) or {}
        return json_response(await hs.public_rooms.public_rooms(public_rooms_query(body)))

    return [web.get(PUBLIC_ROOMS, get_public_rooms), web.post(PUBLIC_ROOMS, post_public_rooms)]


def _get_query(request: web.Request) -> PublicRoomsQuery:
    raw_limit = request.query.get("limit")
    try:
        limit = int(raw_limit) if raw_limit is not None else None
    except ValueError:
        raise invalid_param("limit must be an integer") from None
    include_all = request.query.get("include_all_networks", "false")
    if include_all not in ("true", "false"):
        raise invalid_param("include_all_networks must be true or false")
    instance = request.query.get("third_party_instance_id")
    if include_all == "true" and instance is not None:
        raise invalid_param("third_party_instance_id cannot be used with include_all_networks")
    return PublicRoomsQuery(
        # public_rooms.yaml: "Defaults to 0 (no limit)".
        limit=limit or None,
        since=request.query.get("since"),
        third_party_instance_id=instance,
    )
