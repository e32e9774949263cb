"""Third-party network lookups (modules/third_party_networks.md, third_party_lookup.yaml).

The protocols and their portal rooms and users come from application services (bridges)
that declare them (`services/appservices/thirdparty.py`). With none, the protocol list is
empty and every lookup answers the 404 M_NOT_FOUND the spec gives for an unknown protocol
or an empty result.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from aiohttp import web

from veche.api.http import CLIENT_PREFIX, json_response
from veche.errors import missing_param, not_found
from veche.services.appservices.thirdparty import ThirdPartyLookups

if TYPE_CHECKING:
    from veche.homeserver import HomeServer

V3 = f"{CLIENT_PREFIX}/v3"


def routes(hs: HomeServer) -> list[web.RouteDef]:
    lookups = ThirdPartyLookups(hs.appservices)

    async def protocols(request: web.Request) -> web.Response:
        await hs.auth.require(request)
        return json_response(await lookups.protocols())

    async def protocol(request: web.Request) -> web.Response:
        await hs.auth.require(request)
        return json_response(await lookups.protocol(request.match_info["protocol"]))

    def lookup_by_protocol(kind: str) -> Callable[[web.Request], Awaitable[web.Response]]:
        async def handler(request: web.Request) -> web.Response:
            await hs.auth.require(request)
            found = await lookups.lookup(kind, request.match_info["protocol"], dict(request.query))
            if not found:
                raise not_found(f"No third-party {kind} matches")
            return json_response(found)

        return handler

    async def location_by_alias(request: web.Request) -> web.Response:
        await hs.auth.require(request)
        if "alias" not in request.query:
            raise missing_param("alias is required")
        found = await lookups.reverse_lookup("location", {"alias": request.query["alias"]})
        if not found:
            raise not_found("No third-party location is bridged to this alias")
        return json_response(found)

    async def user_by_user_id(request: web.Request) -> web.Response:
        await hs.auth.require(request)
        if "userid" not in request.query:
            raise missing_param("userid is required")
        found = await lookups.reverse_lookup("user", {"userid": request.query["userid"]})
        if not found:
            raise not_found("No third-party user is bridged to this user")
        return json_response(found)

    return [
        web.get(V3 + "/thirdparty/protocols", protocols),
        web.get(V3 + "/thirdparty/protocol/{protocol}", protocol),
        web.get(V3 + "/thirdparty/location/{protocol}", lookup_by_protocol("location")),
        web.get(V3 + "/thirdparty/user/{protocol}", lookup_by_protocol("user")),
        web.get(V3 + "/thirdparty/location", location_by_alias),
        web.get(V3 + "/thirdparty/user", user_by_user_id),
    ]
