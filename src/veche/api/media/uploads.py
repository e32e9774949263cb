"""POST /_matrix/media/v3/upload, POST /_matrix/media/v1/create and
PUT /_matrix/media/v3/upload/{serverName}/{mediaId} (content-repo.yaml).

The body is streamed to disk by the repository, which enforces max_upload_size while
reading; the app's JSON body limit does not apply to these handlers.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from veche.api.http import json_response
from veche.errors import MatrixError
from veche.services.ratelimit import RateLimits

if TYPE_CHECKING:
    from veche.homeserver import HomeServer

MEDIA_PREFIX = "/_matrix/media"
# Chunks handed to the repository as they arrive from the socket.
_READ_CHUNK = 256 * 1024


def routes(hs: HomeServer) -> list[web.RouteDef]:
    media = hs.media.repository

    async def body(request: web.Request) -> AsyncIterator[bytes]:
        try:
            async for chunk in request.content.iter_chunked(_READ_CHUNK):
                yield chunk
        except (ConnectionResetError, HttpProcessingError):
            # The client went away or sent less than it announced; nobody hears this answer.
            raise MatrixError(400, "M_UNKNOWN", "The upload was interrupted") from None

    def declared_type(request: web.Request) -> str | None:
        return request.headers.get("Content-Type")

    async def upload(request: web.Request) -> web.Response:
        token = await hs.auth.require(request)
        content_uri = await media.upload(
            token.user_id,
            body(request),
            content_length=request.content_length,
            content_type=declared_type(request),
            filename=request.query.get("filename"),
        )
        return json_response({"content_uri": content_uri})

    async def create(request: web.Request) -> web.Response:
        token = await hs.auth.require(request)
        # content-repo.yaml (/create): the rate of new IDs is limited besides their number.
        hs.ratelimiter.check(RateLimits.MEDIA_CREATE, token.user_id)
        content_uri, expires_ts = await media.create_pending(token.user_id)
        return json_response({"content_uri": content_uri, "unused_expires_at": expires_ts})

    async def upload_to(request: web.Request) -> web.Response:
        token = await hs.auth.require(request)
        await media.upload_pending(
            token.user_id,
            request.match_info["server_name"],
            request.match_info["media_id"],
            body(request),
            content_length=request.content_length,
            content_type=declared_type(request),
            filename=request.query.get("filename"),
        )
        return json_response({})

    return [
        web.post(f"{MEDIA_PREFIX}/v3/upload", upload),
        web.post(f"{MEDIA_PREFIX}/v1/create", create),
        web.put(f"{MEDIA_PREFIX}/v3/upload/{{server_name}}/{{media_id}}", upload_to),
    ]
