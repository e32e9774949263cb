"""The client API endpoints reserved to application services: POST /appservice/{id}/ping
(appservice_ping.yaml) and PUT /directory/list/appservice/{networkId}/{roomId}
(appservice_room_directory.yaml).

Both need an application service's `as_token`, and Veche registers no application services
yet, so no token qualifies: a user's token is refused with 403 M_FORBIDDEN, which
appservice_ping.yaml names for a token that "doesn't belong to an appservice".
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from veche.api.http import CLIENT_PREFIX
from veche.errors import forbidden

if TYPE_CHECKING:
    from veche.homeserver import HomeServer

V1 = f"{CLIENT_PREFIX}/v1"
V3 = f"{CLIENT_PREFIX}/v3"


def routes(hs: HomeServer) -> list[web.RouteDef]:
    async def appservice_only(request: web.Request) -> web.Response:
        await hs.auth.require(request, allow_guest=True)
        raise forbidden("Only an application service's as_token may call this endpoint")

    return [
        web.post(V1 + "/appservice/{appserviceId}/ping", appservice_only),
        web.put(V3 + "/directory/list/appservice/{networkId}/{roomId}", appservice_only),
    ]
