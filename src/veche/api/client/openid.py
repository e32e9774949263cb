"""POST /user/{userId}/openid/request_token (modules/openid.md, openid.yaml)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from veche.api.http import CLIENT_PREFIX, json_response, read_json_body
from veche.errors import forbidden

if TYPE_CHECKING:
    from veche.homeserver import HomeServer

V3 = f"{CLIENT_PREFIX}/v3"


def routes(hs: HomeServer) -> list[web.RouteDef]:
    async def request_token(request: web.Request) -> web.Response:
        requester = await hs.auth.require(request)
        await read_json_body(request)  # an empty object, reserved for future expansion
        if request.match_info["userId"] != requester.user_id:
            raise forbidden("You can only request an OpenID token for yourself")
        token = await hs.openid.issue(requester.user_id)
        return json_response(
            {
                "access_token": token.access_token,
                "token_type": "Bearer",
                "matrix_server_name": hs.server_name,
                "expires_in": token.expires_in,
            }
        )

    return [web.post(V3 + "/user/{userId}/openid/request_token", request_token)]
