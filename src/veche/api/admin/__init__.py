"""Synapse's admin API (`/_synapse/admin`), so that existing admin tools (synapse-admin,
scripts) work against Veche: one module per area of that API, on the client listener."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from veche.api.admin import devices, media, registration_tokens, reports, rooms, server, users

if TYPE_CHECKING:
    from veche.homeserver import HomeServer


def routes(hs: HomeServer) -> list[web.RouteDef]:
    return [
        *server.routes(hs),
        *users.routes(hs),
        *devices.routes(hs),
        *rooms.routes(hs),
        *registration_tokens.routes(hs),
        *media.routes(hs),
        *reports.routes(hs),
    ]
