"""Third-party network lookups (modules/third_party_networks.md, third_party_lookup.yaml).

The protocols and their portal rooms and users come from application services (bridges).
Veche has none yet, so it supports no protocol: the list is empty and every lookup finds
nothing, answered with the 404 M_NOT_FOUND the spec gives for an unknown protocol or an
empty result.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from veche.api.http import CLIENT_PREFIX, json_response
from veche.errors import missing_param, not_found

if TYPE_CHECKING:
    from veche.homeserver import HomeServer

V3 = f"{CLIENT_PREFIX}/v3"


def routes(hs: HomeServer) -> list[web.RouteDef]:
    async def protocols(request: web.Request) -> web.Response:
        await hs.auth.require(request)
        return json_response({})

    async def protocol(request: web.Request) -> web.Response:
        await hs.auth.require(request)
        raise not_found(f"Unknown protocol {request.match_info['protocol']!r}")

    async def lookup_by_protocol(request: web.Request) -> web.Response:
        await hs.auth.require(request)
        raise not_found(f"Unknown protocol {request.match_info['protocol']!r}")

    async def location_by_alias(request: web.Request) -> web.Response:
        await hs.auth.require(request)
        if "alias" not in request.query:
            raise missing_param("alias is required")
        raise not_found("No third-party location is bridged to this alias")

    async def user_by_user_id(request: web.Request) -> web.Response:
        await hs.auth.require(request)
        if "userid" not in request.query:
            raise missing_param("userid is required")
        raise not_found("No third-party user is bridged to this user")

    return [
        web.get(V3 + "/thirdparty/protocols", protocols),
        web.get(V3 + "/thirdparty/protocol/{protocol}", protocol),
        web.get(V3 + "/thirdparty/location/{protocol}", lookup_by_protocol),
        web.get(V3 + "/thirdparty/user/{protocol}", lookup_by_protocol),
        web.get(V3 + "/thirdparty/location", location_by_alias),
        web.get(V3 + "/thirdparty/user", user_by_user_id),
    ]
