"""GET /_matrix/federation/v1/version: this server's implementation name and version."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from veche import __version__
from veche.api.http import json_response

if TYPE_CHECKING:
    from veche.homeserver import HomeServer

FEDERATION_V1 = "/_matrix/federation/v1"


def routes(hs: HomeServer) -> list[web.RouteDef]:
    body = {"server": {"name": "Veche", "version": __version__}}

    async def get_version(request: web.Request) -> web.Response:
        return json_response(body)

    return [web.get(f"{FEDERATION_V1}/version", get_version)]
