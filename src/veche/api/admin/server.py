"""GET /_synapse/admin/v1/server_version: which server this is (no token needed, as in Synapse)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from veche import __version__
from veche.api.admin.requests import ADMIN_V1
from veche.api.http import json_response

if TYPE_CHECKING:
    from veche.homeserver import HomeServer


def routes(hs: HomeServer) -> list[web.RouteDef]:
    async def server_version(request: web.Request) -> web.Response:
        return json_response({"server_version": f"Veche {__version__}"})

    return [web.get(f"{ADMIN_V1}/server_version", server_version)]
