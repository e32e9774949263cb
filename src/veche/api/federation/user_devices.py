"""GET /_matrix/federation/v1/user/devices/{userId} (server-server user_devices.yaml): a
user's devices and cross-signing keys, with the device-list position updates follow."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from veche.api.http import json_response
from veche.errors import not_found
from veche.protocol.identifiers import InvalidIdentifier, parse_user_id

if TYPE_CHECKING:
    from veche.homeserver import HomeServer


def routes(hs: HomeServer) -> list[web.RouteDef]:
    async def user_devices(request: web.Request) -> web.Response:
        await hs.server_auth.require(request)
        user_id = request.match_info["userId"]
        try:
            server_name = parse_user_id(user_id).server_name
        except InvalidIdentifier:
            raise not_found("Unknown user") from None
        account = await hs.accounts.get_account(user_id) if server_name == hs.server_name else None
        if account is None:
            raise not_found("Unknown user")
        return json_response(await hs.e2ee.keys.user_devices(user_id))

    return [web.get("/_matrix/federation/v1/user/devices/{userId}", user_devices)]
