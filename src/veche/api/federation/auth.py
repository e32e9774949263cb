"""Authenticating an incoming federation request at the HTTP edge.

`ServerAuth.require(request, kind)` reads the body (once, at most MAX_JSON_BODY bytes;
`read_federation_body` hands the same parsed JSON to the handler afterwards), checks the
X-Matrix signature through `RequestAuthenticator`, admits the request under its origin's
limits (`OriginLimiter`: 429 when over them) and returns the origin server name, or raises
401 M_UNAUTHORIZED. The origin's slot is held until the handler returns: `admission_middleware`
releases it.
"""

from __future__ import annotations

from contextlib import AsyncExitStack
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler

from veche.api.http import MAX_JSON_BODY
from veche.errors import MatrixError
from veche.protocol.canonical_json import CanonicalJsonError, decode_json
from veche.services.federation.origin_limits import OriginLimiter, RequestKind
from veche.services.federation.transport_auth import RequestAuthenticator, RequestAuthError

_BODY_KEY = web.RequestKey("veche.federation_body", object)
_ADMISSION_KEY = web.RequestKey("veche.federation_admission", AsyncExitStack)


class ServerAuth:
    def __init__(self, authenticator: RequestAuthenticator, limiter: OriginLimiter) -> None:
        self._authenticator = authenticator
        self._limiter = limiter

    async def require(self, request: web.Request, kind: RequestKind = RequestKind.QUERY) -> str:
        content = await read_federation_body(request)
        try:
            origin = await self._authenticator.authenticate(
                request.method,
                request.raw_path,
                request.headers.getall("Authorization", []),
                content,
            )
        except RequestAuthError as e:
            raise MatrixError(401, "M_UNAUTHORIZED", str(e)) from None
        # After authentication: an unsigned request must not spend a real origin's budget.
        await request[_ADMISSION_KEY].enter_async_context(self._limiter.admit(origin, kind))
        return origin


@web.middleware
async def admission_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Gives the request a place for what `ServerAuth.require` admits, released when the
    handler is done (a streamed answer is written by then)."""
    async with AsyncExitStack() as admission:
        request[_ADMISSION_KEY] = admission
        return await handler(request)


async def read_federation_body(request: web.Request) -> Any:
    """The request's JSON body (None if it has none), parsed once and kept on the request.

    Numbers are read non-strictly: bodies may carry events of room versions 1–5.
    """
    if _BODY_KEY in request:
        return request[_BODY_KEY]
    body = await _read_limited(request)
    if not body:
        content = None
    else:
        try:
            content = decode_json(body, strict=False)
        except CanonicalJsonError:
            raise MatrixError(400, "M_NOT_JSON", "Request body is not valid JSON") from None
        if not isinstance(content, dict):
            raise MatrixError(400, "M_NOT_JSON", "Request body must be a JSON object")
    request[_BODY_KEY] = content
    return content


async def _read_limited(request: web.Request) -> bytes:
    if request.content_length is not None and request.content_length > MAX_JSON_BODY:
        raise _too_large()
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.content.iter_any():
        size += len(chunk)
        if size > MAX_JSON_BODY:
            raise _too_large()
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large() -> MatrixError:
    return MatrixError(413, "M_TOO_LARGE", f"Request body is larger than {MAX_JSON_BODY} bytes")
