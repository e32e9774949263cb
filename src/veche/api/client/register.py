"""Registration (registration.yaml, registration_tokens.yaml).

This server binds no third-party identifiers to accounts, so the requestToken endpoints
for registration refuse every address with M_THREEPID_DENIED.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from veche.api.client.auth_helpers import client_ip, session_body
from veche.api.http import CLIENT_PREFIX, extract_access_token, json_response, read_json_body
from veche.errors import MatrixError, invalid_param, missing_param
from veche.protocol.appservice import APPSERVICE_LOGIN
from veche.services.ratelimit import RateLimits

if TYPE_CHECKING:
    from veche.homeserver import HomeServer

V3 = f"{CLIENT_PREFIX}/v3"
V1 = f"{CLIENT_PREFIX}/v1"


def routes(hs: HomeServer) -> list[web.RouteDef]:
    registration = hs.registration
    limiter = hs.ratelimiter

    async def register(request: web.Request) -> web.Response:
        kind = request.query.get("kind", "user")
        if kind not in ("user", "guest"):
            raise invalid_param("kind must be user or guest")
        body = await read_json_body(request)
        ip = client_ip(request)
        if body.get("type") == APPSERVICE_LOGIN:
            # The token alone: a `user_id` parameter names the user being registered, who
            # cannot be acted as yet.
            reg = hs.appservices.require_by_token(extract_access_token(request))
            result = await registration.register_appservice_user(reg, body, ip)
        elif kind == "guest":
            result = await registration.register_guest(body, ip)
        else:
            result = await registration.register_user(body, ip)
        response = {"user_id": result.user_id, "home_server": hs.config.server_name}
        if result.session is not None:
            response.update(session_body(result.session))
        return json_response(response)

    async def available(request: web.Request) -> web.Response:
        limiter.check(RateLimits.REGISTRATION_LOOKUP, client_ip(request) or "")
        username = request.query.get("username")
        if username is None:
            raise missing_param("Missing username")
        await registration.check_username(username)
        return json_response({"available": True})

    async def token_validity(request: web.Request) -> web.Response:
        # The spec asks servers to rate limit this one against guessing.
        limiter.check(RateLimits.REGISTRATION_LOOKUP, client_ip(request) or "")
        token = request.query.get("token")
        if token is None:
            raise missing_param("Missing token")
        return json_response({"valid": await registration.token_validity(token)})

    async def request_token(request: web.Request) -> web.Response:
        await read_json_body(request)
        raise MatrixError(
            403, "M_THREEPID_DENIED", "This server does not bind third-party identifiers"
        )

    return [
        web.post(f"{V3}/register", register),
        web.get(f"{V3}/register/available", available),
        web.get(f"{V1}/register/m.login.registration_token/validity", token_validity),
        web.post(f"{V3}/register/email/requestToken", request_token),
        web.post(f"{V3}/register/msisdn/requestToken", request_token),
    ]
