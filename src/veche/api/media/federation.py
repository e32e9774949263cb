"""GET /_matrix/federation/v1/media/download/{mediaId} and /thumbnail/{mediaId}
(server-server content_repository.yaml): this server's own media, for other servers.

The answer is `multipart/mixed` with exactly two parts: the metadata (always `{}` today)
and the bytes with their Content-Type and Content-Disposition. The file is streamed from
disk in chunks, never read into memory whole.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from typing import TYPE_CHECKING

from aiohttp import web

from veche.api.media.params import int_param, thumbnail_query
from veche.errors import not_found
from veche.protocol.media import content_disposition
from veche.services.federation.origin_limits import RequestKind
from veche.services.media.repository import MediaFile

if TYPE_CHECKING:
    from veche.homeserver import HomeServer

FEDERATION_MEDIA = "/_matrix/federation/v1/media"
_CHUNK = 256 * 1024


def routes(hs: HomeServer) -> list[web.RouteDef]:
    repository = hs.media.repository

    async def download(request: web.Request) -> web.StreamResponse:
        await hs.server_auth.require(request, RequestKind.EXPENSIVE)
        found = await repository.download(
            hs.server_name, request.match_info["media_id"], timeout_ms=int_param(request, "timeout_ms")
        )
        return await multipart_response(
            request, found, content_disposition(found.content_type, found.filename)
        )

    async def thumbnail(request: web.Request) -> web.StreamResponse:
        await hs.server_auth.require(request, RequestKind.EXPENSIVE)
        size, animated = thumbnail_query(request)
        found = await repository.thumbnail(
            hs.server_name,
            request.match_info["media_id"],
            size,
            animated=animated,
            timeout_ms=int_param(request, "timeout_ms"),
        )
        return await multipart_response(request, found, f'inline; filename="{found.filename}"')

    return [
        web.get(f"{FEDERATION_MEDIA}/download/{{media_id}}", download),
        web.get(f"{FEDERATION_MEDIA}/thumbnail/{{media_id}}", thumbnail),
    ]


async def multipart_response(
    request: web.Request, found: MediaFile, disposition: str
) -> web.StreamResponse:
    try:
        file = await asyncio.to_thread(found.path.open, "rb")
    except FileNotFoundError:
        raise not_found("Unknown media") from None
    try:
        size = os.fstat(file.fileno()).st_size
        boundary = secrets.token_hex(16)
        head = (
            f"--{boundary}\r\nContent-Type: application/json\r\n\r\n{{}}\r\n"
            f"--{boundary}\r\nContent-Type: {found.content_type}\r\n"
            f"Content-Disposition: {disposition}\r\n\r\n"
        ).encode()
        tail = f"\r\n--{boundary}--\r\n".encode()
        response = web.StreamResponse(
            headers={"Content-Type": f"multipart/mixed; boundary={boundary}"}
        )
        response.content_length = len(head) + size + len(tail)
        await response.prepare(request)
        await response.write(head)
        while chunk := await asyncio.to_thread(file.read, _CHUNK):
            await response.write(chunk)
        await response.write(tail)
        await response.write_eof()
        return response
    finally:
        await asyncio.to_thread(file.close)
