"""Authenticating an incoming federation request at the HTTP edge.

`ServerAuth.require(request)` reads the body (once; `read_federation_body` hands the same
parsed JSON to the handler afterwards), checks the X-Matrix signature through
`RequestAuthenticator` and returns the origin server name, or raises 401 M_UNAUTHORIZED.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from veche.api.http import MAX_JSON_BODY
from veche.errors import MatrixError
from veche.protocol.canonical_json import CanonicalJsonError, decode_json
from veche.services.federation.transport_auth import RequestAuthenticator, RequestAuthError

_BODY_KEY = web.RequestKey("veche.federation_body", object)


class ServerAuth:
    def __init__(self, authenticator: RequestAuthenticator) -> None:
        self._authenticator = authenticator

    async def require(self, request: web.Request) -> str:
        content = await read_federation_body(request)
        try:
            return await self._authenticator.authenticate(
                request.method,
                request.raw_path,
                request.headers.getall("Authorization", []),
                content,
            )
        except RequestAuthError as e:
            raise MatrixError(401, "M_UNAUTHORIZED", str(e)) from None


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
