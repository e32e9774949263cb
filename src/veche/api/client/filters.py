"""Uploading and downloading filters (client-server-api "Filtering", filter.yaml)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from veche.api.http import CLIENT_PREFIX, json_response, read_json_body
from veche.errors import forbidden, not_found

if TYPE_CHECKING:
    from veche.homeserver import HomeServer

V3 = f"{CLIENT_PREFIX}/v3"


def routes(hs: HomeServer) -> list[web.RouteDef]:
    service = hs.user_data.filters

    async def own_user(request: web.Request) -> str:
        requester = await hs.auth.require(request)
        if requester.user_id != request.match_info["userId"]:
            raise forbidden("Cannot use filters of other users")
        return requester.user_id

    async def post_filter(request: web.Request) -> web.Response:
        user_id = await own_user(request)
        definition = await read_json_body(request)
        filter_id = await service.create_filter(user_id, definition)
        return json_response({"filter_id": filter_id})

    async def get_filter(request: web.Request) -> web.Response:
        user_id = await own_user(request)
        definition = await service.get_filter(user_id, request.match_info["filterId"])
        if definition is None:
            raise not_found("No such filter")
        return json_response(definition)

    return [
        web.post(V3 + "/user/{userId}/filter", post_filter),
        web.get(V3 + "/user/{userId}/filter/{filterId:[^/]+}", get_filter),
    ]
