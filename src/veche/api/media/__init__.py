"""The content repository's HTTP endpoints (client-server-api/modules/content_repo.md):
uploads under /_matrix/media, authenticated downloads under /_matrix/client/v1/media, the
deprecated unauthenticated ones, URL previews and config (the admin endpoints are in
api/admin/media.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from veche.api.media import downloads, previews, uploads

if TYPE_CHECKING:
    from veche.homeserver import HomeServer


def routes(hs: HomeServer) -> list[web.RouteDef]:
    return [
        *uploads.routes(hs),
        *downloads.routes(hs),
        *previews.routes(hs),
    ]
