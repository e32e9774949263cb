"""The HTTP edge shared by every API module: errors, JSON in and out, CORS, access tokens.

Handlers raise `MatrixError`; `error_middleware` turns it, and anything else that goes
wrong, into the spec's standard error response (client-server-api/_index.md, "Standard
error response"), so a client never sees an HTML error page.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import orjson
from aiohttp import web
from aiohttp.web_protocol import RequestPayloadError

from veche.errors import MatrixError
from veche.storage.database import InvalidValue

if TYPE_CHECKING:
    from veche.services.appservices.registry import AppServices
    from veche.storage.accounts import TokenInfo

logger = logging.getLogger(__name__)

CLIENT_PREFIX = "/_matrix/client"
# Generous for any JSON API body (the largest are federation transactions of 50 PDUs of at
# most 64 KiB each); media uploads stream and have their own limit.
MAX_JSON_BODY = 4 * 1024 * 1024

# The headers the spec recommends on every response ("Web Browser Clients").
CORS_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "GET, HEAD, POST, PUT, DELETE, OPTIONS",
    "Access-Control-Allow-Headers": "X-Requested-With, Content-Type, Authorization",
}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def error_response(error: MatrixError) -> web.Response:
    response = json_response(error.to_body(), status=error.status)
    retry_after_ms = error.extra.get("retry_after_ms")
    if error.status == 429 and isinstance(retry_after_ms, int):
        # The spec prefers the header to the deprecated body field ("Rate limiting").
        response.headers["Retry-After"] = str(-(-retry_after_ms // 1000))
    return response


def json_response(obj: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(obj), status=status, content_type="application/json")


async def read_json_body(request: web.Request, max_size: int = MAX_JSON_BODY) -> dict[str, Any]:
    """The request body as a JSON object: 400 M_NOT_JSON if it is not one, 413 if too big."""
    if request.content_length is not None and request.content_length > max_size:
        raise _too_large(max_size)
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in request.content.iter_any():
            size += len(chunk)
            if size > max_size:
                raise _too_large(max_size)
            chunks.append(chunk)
    except RequestPayloadError:
        # A Content-Encoding the body does not match, or a broken chunked body.
        raise MatrixError(400, "M_NOT_JSON", "Request body could not be read") from None
    try:
        body = orjson.loads(b"".join(chunks))
    except orjson.JSONDecodeError:
        raise MatrixError(400, "M_NOT_JSON", "Request body is not valid JSON") from None
    if not isinstance(body, dict):
        raise MatrixError(400, "M_NOT_JSON", "Request body must be a JSON object")
    return body


def _too_large(max_size: int) -> MatrixError:
    return MatrixError(413, "M_TOO_LARGE", f"Request body is larger than {max_size} bytes")


def extract_access_token(request: web.Request) -> str | None:
    """The token of an `Authorization: Bearer` header, the only place the spec allows it."""
    header = request.headers.get("Authorization")
    if header is None:
        return None
    scheme, _, token = header.partition(" ")
    # RFC 9110: the auth scheme is case-insensitive.
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


class Authenticator:
    """Resolves a request's access token to the account and device behind it."""

    def __init__(
        self, lookup: Callable[[str], Awaitable[TokenInfo | None]], appservices: AppServices | None = None
    ) -> None:
        self._lookup = lookup
        # Only when application services are registered: their as_tokens are no access tokens.
        self._appservices = appservices

    async def require(self, request: web.Request, *, allow_guest: bool = False) -> TokenInfo:
        token = extract_access_token(request)
        if token is None:
            raise MatrixError(401, "M_MISSING_TOKEN", _missing_token_message(request))
        if self._appservices is not None:
            registration = self._appservices.by_token(token)
            if registration is not None:
                query = request.query
                return await self._appservices.requester(registration, query.get("user_id"), query.get("device_id"))
        info = await self._lookup(token)
        if info is None:
            raise MatrixError(401, "M_UNKNOWN_TOKEN", "Unrecognised access token", soft_logout=False)
        if info.expires_ts is not None and info.expires_ts <= int(time.time() * 1000):
            # An expired token is refreshable, which the spec signals with soft_logout.
            raise MatrixError(401, "M_UNKNOWN_TOKEN", "Access token has expired", soft_logout=True)
        if info.is_guest and not allow_guest:
            raise MatrixError(403, "M_GUEST_ACCESS_FORBIDDEN", "Guest access is not allowed here")
        return info


def _missing_token_message(request: web.Request) -> str:
    # client-server-api/_index.md "Using access tokens": query-string tokens are no longer
    # supported, so such a request carries no token; say why to spare the client a hunt.
    if "access_token" in request.query:
        return "Access tokens in the query string are not supported; use the Authorization header"
    return "Missing access token"


def _error_for_http_exception(exc: web.HTTPException) -> MatrixError:
    if exc.status == 404:
        return MatrixError(404, "M_UNRECOGNIZED", "Unrecognized request")
    if exc.status == 405:
        return MatrixError(405, "M_UNRECOGNIZED", "Method not allowed for this endpoint")
    if exc.status == 413:
        return MatrixError(413, "M_TOO_LARGE", "Request body is too large")
    return MatrixError(exc.status, "M_UNKNOWN", exc.reason)


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    # The spec forbids running endpoint logic for OPTIONS; answer every preflight here.
    if request.method == "OPTIONS":
        return web.Response(status=204)
    if "\x00" in request.path:
        # No identifier, type, state key or transaction ID may hold NUL, and PostgreSQL
        # cannot store it: refused here for every endpoint and both engines alike.
        return error_response(MatrixError(400, "M_INVALID_PARAM", "The request path holds NUL"))
    try:
        return await handler(request)
    except MatrixError as e:
        return _closing_if_body_broke(request, error_response(e))
    except web.HTTPException as e:
        if e.status < 400:
            raise
        return error_response(_error_for_http_exception(e))
    except InvalidValue:
        # The last line of defence for values no handler checked, e.g. NUL in text on PostgreSQL.
        error = MatrixError(400, "M_INVALID_PARAM", "The request holds a value that cannot be stored")
        return error_response(error)
    except RequestPayloadError:
        # A body that is not JSON (media uploads) and fails to decode or arrive whole.
        error = MatrixError(400, "M_UNKNOWN", "Request body could not be read")
        return _closing_if_body_broke(request, error_response(error))
    except Exception:
        logger.exception("Unhandled error in %s %s", request.method, request.path)
        return error_response(MatrixError(500, "M_UNKNOWN", "Internal server error"))


def _closing_if_body_broke(request: web.Request, response: web.Response) -> web.Response:
    # After a body that could not be decoded the connection cannot carry another request:
    # say so, so the client opens a new one, and give up on the rest of the body, which
    # aiohttp would otherwise read on, fail on again and log as unhandled.
    if request.content.exception() is not None:
        request.content.feed_eof()
        response.force_close()
    return response


async def add_cors_headers(request: web.Request, response: web.StreamResponse) -> None:
    """An `on_response_prepare` hook, so even streamed and redirect responses get CORS."""
    response.headers.update(CORS_HEADERS)
