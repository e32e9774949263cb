"""GET /_matrix/federation/v1/openid/userinfo (server-server-api.md, "OpenID").

Called by the service a user gave an OpenID token to, not by a homeserver, so the request
is not signed: the token in the query string is the whole credential.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from veche.api.http import json_response
from veche.errors import MatrixError, missing_param

if TYPE_CHECKING:
    from veche.homeserver import HomeServer

FEDERATION_V1 = "/_matrix/federation/v1"


def routes(hs: HomeServer) -> list[web.RouteDef]:
    async def userinfo(request: web.Request) -> web.Response:
        token = request.query.get("access_token")
        if not token:
            raise missing_param("access_token is required")
        user_id = await hs.openid.owner(token)
        if user_id is None:
            raise MatrixError(401, "M_UNKNOWN_TOKEN", "Access token unknown or expired")
        return json_response({"sub": user_id})

    return [web.get(f"{FEDERATION_V1}/openid/userinfo", userinfo)]
