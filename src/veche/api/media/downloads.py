"""Downloads and thumbnails: the authenticated /_matrix/client/v1/media endpoints
(authed-content-repo.yaml) and the deprecated unauthenticated /_matrix/media ones
(content-repo.yaml), which serve only media from before the freeze when it is on.

Files stream from disk (aiohttp's FileResponse: sendfile, Content-Length, Range and
conditional requests) under the headers content_repo.md asks for.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

from aiohttp import web

from veche.api.http import CLIENT_PREFIX
from veche.api.media.params import bool_param, int_param, thumbnail_query
from veche.api.media.uploads import MEDIA_PREFIX
from veche.protocol.media import CONTENT_SECURITY_POLICY, content_disposition
from veche.services.media.repository import MediaFile

if TYPE_CHECKING:
    from veche.homeserver import HomeServer

AUTHED_PREFIX = f"{CLIENT_PREFIX}/v1/media"
# Synapse serves the deprecated endpoints under every version clients have used.
LEGACY_PREFIXES = tuple(f"{MEDIA_PREFIX}/{version}" for version in ("r0", "v1", "v3"))


def routes(hs: HomeServer) -> list[web.RouteDef]:
    media = hs.media.repository

    async def download(request: web.Request, *, legacy: bool) -> web.StreamResponse:
        if not legacy:
            await hs.auth.require(request, allow_guest=True)
        found = await media.download(
            request.match_info["server_name"],
            request.match_info["media_id"],
            timeout_ms=int_param(request, "timeout_ms"),
            legacy=legacy,
            allow_remote=_allow_remote(request, legacy),
        )
        # The path's file name replaces the uploaded one (content-repo.yaml).
        filename = request.match_info.get("file_name") or found.filename
        return file_response(found, content_disposition(found.content_type, filename))

    async def thumbnail(request: web.Request, *, legacy: bool) -> web.StreamResponse:
        if not legacy:
            await hs.auth.require(request, allow_guest=True)
        size, animated = thumbnail_query(request)
        found = await media.thumbnail(
            request.match_info["server_name"],
            request.match_info["media_id"],
            size,
            animated=animated,
            timeout_ms=int_param(request, "timeout_ms"),
            legacy=legacy,
            allow_remote=_allow_remote(request, legacy),
        )
        # authed-content-repo.yaml: a thumbnail is always `inline`.
        return file_response(found, f'inline; filename="{found.filename}"')

    item = "{server_name}/{media_id}"
    route_list = []
    for prefix, legacy in ((AUTHED_PREFIX, False), *((p, True) for p in LEGACY_PREFIXES)):
        route_list += [
            web.get(f"{prefix}/download/{item}", partial(download, legacy=legacy)),
            web.get(f"{prefix}/download/{item}/{{file_name}}", partial(download, legacy=legacy)),
            web.get(f"{prefix}/thumbnail/{item}", partial(thumbnail, legacy=legacy)),
        ]
    return route_list


def _allow_remote(request: web.Request, legacy: bool) -> bool:
    """content-repo.yaml `allow_remote` (deprecated endpoints only): false asks not to
    fetch remote media, which servers falling back to these endpoints always send."""
    return not legacy or bool_param(request, "allow_remote") is not False


def file_response(found: MediaFile, disposition: str) -> web.FileResponse:
    return web.FileResponse(
        found.path,
        headers={
            "Content-Type": found.content_type,
            "Content-Disposition": disposition,
            "Content-Security-Policy": CONTENT_SECURITY_POLICY,
            # content_repo.md (v1.4): lets web clients embed media cross-origin.
            "Cross-Origin-Resource-Policy": "cross-origin",
            "X-Content-Type-Options": "nosniff",
        },
    )
