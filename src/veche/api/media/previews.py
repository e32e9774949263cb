"""GET /_matrix/client/v1/media/preview_url and /config, and their deprecated
/_matrix/media/v3 twins (authed-content-repo.yaml, content-repo.yaml)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from veche.api.http import json_response
from veche.api.media.downloads import AUTHED_PREFIX, LEGACY_PREFIXES
from veche.errors import forbidden, missing_param

if TYPE_CHECKING:
    from veche.homeserver import HomeServer


def routes(hs: HomeServer) -> list[web.RouteDef]:
    previews = hs.media.previews
    max_upload_size = hs.media.repository.max_upload_size

    async def config(request: web.Request) -> web.Response:
        await hs.auth.require(request, allow_guest=True)
        return json_response({"m.upload.size": max_upload_size})

    async def preview_url(request: web.Request) -> web.Response:
        token = await hs.auth.require(request)
        if previews is None:
            raise forbidden("URL previews are disabled on this server")
        url = request.query.get("url")
        if not url:
            raise missing_param("Missing query parameter url")
        # `ts` asks for a past version; a cached or fresh one is what there is.
        return json_response(await previews.preview(token.user_id, url))

    route_list = []
    for prefix in (AUTHED_PREFIX, *LEGACY_PREFIXES):
        route_list += [
            web.get(f"{prefix}/config", config),
            web.get(f"{prefix}/preview_url", preview_url),
        ]
    return route_list
