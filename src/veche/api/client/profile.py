"""Profiles: GET /profile/{userId}, and GET/PUT/DELETE /profile/{userId}/{keyName}
(profile.yaml). The rules live in services/profile.py."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from veche.api.http import CLIENT_PREFIX, json_response, read_json_body
from veche.services.ratelimit import RateLimits

if TYPE_CHECKING:
    from veche.homeserver import HomeServer

V3 = f"{CLIENT_PREFIX}/v3"


def routes(hs: HomeServer) -> list[web.RouteDef]:
    profiles = hs.profiles

    async def get_profile(request: web.Request) -> web.Response:
        return json_response(await profiles.lookup(request.match_info["userId"]))

    async def get_field(request: web.Request) -> web.Response:
        user_id, key = request.match_info["userId"], request.match_info["keyName"]
        return json_response(await profiles.lookup_field(user_id, key))

    async def put_field(request: web.Request) -> web.Response:
        requester = await hs.auth.require(request, allow_guest=True)
        hs.ratelimiter.check(RateLimits.PROFILE, requester.user_id)
        body = await read_json_body(request)
        await profiles.set_field(requester, request.match_info["userId"], request.match_info["keyName"], body)
        return json_response({})

    async def delete_field(request: web.Request) -> web.Response:
        requester = await hs.auth.require(request, allow_guest=True)
        hs.ratelimiter.check(RateLimits.PROFILE, requester.user_id)
        await profiles.delete_field(requester, request.match_info["userId"], request.match_info["keyName"])
        return json_response({})

    return [
        web.get(V3 + "/profile/{userId}", get_profile),
        web.get(V3 + "/profile/{userId}/{keyName}", get_field),
        web.put(V3 + "/profile/{userId}/{keyName}", put_field),
        web.delete(V3 + "/profile/{userId}/{keyName}", delete_field),
    ]
