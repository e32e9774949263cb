"""GET /.well-known/matrix/client: where clients find this server's Client-Server API."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from veche.api.http import json_response

if TYPE_CHECKING:
    from veche.homeserver import HomeServer


def routes(hs: HomeServer) -> list[web.RouteDef]:
    body = {"m.homeserver": {"base_url": hs.config.public_baseurl}}

    async def get_client_wellknown(request: web.Request) -> web.Response:
        return json_response(body)

    return [web.get("/.well-known/matrix/client", get_client_wellknown)]
