"""The federation HTTP client: signed JSON requests to other homeservers.

    body = await client.get_json("example.org", federation_path("/_matrix/federation/v1/event/{}", event_id))
    await client.put_json(destination, path, {"pdus": [...], "edus": [...]})
    async with client.get_stream(destination, path) as response: ...  # non-JSON bodies (media)

Each request resolves the destination through discovery (cached there), connects to the
resolved IP and port with the Host header and TLS name discovery chose, and carries an
`X-Matrix` signature by our server key (server-server-api.md, "Request Authentication").
`path` is the request target exactly as sent: already percent-encoded (use
`federation_path` to quote identifiers into it), the query given separately in `query`.

Failures are typed, so callers decide what to retry:
- `DestinationUnreachable`: discovery failed, no address accepted the connection, TLS
  failed, the connection dropped or the request timed out;
- `FederationHttpError`: the peer answered with an error status (its `errcode` kept);
- `BadFederationResponse`: a success status with a body that is not JSON or is too large.

Connections are pooled per (address, port, TLS name) by aiohttp's connector, with a cap
per destination address.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import quote, urlencode

import aiohttp
from yarl import URL

from veche import __version__
from veche.config import format_host_port
from veche.protocol.canonical_json import CanonicalJsonError, decode_json, encode_canonical_json
from veche.protocol.signing import SigningKey
from veche.protocol.x_matrix import sign_request
from veche.services.federation.discovery import DiscoveryError, ServerResolver

logger = logging.getLogger(__name__)

DEFAULT_TIMEOUT_SECONDS = 60.0
CONNECT_TIMEOUT_SECONDS = 10.0
DEFAULT_MAX_RESPONSE_BYTES = 10 * 1024 * 1024
CONNECTIONS_PER_ADDRESS = 10
USER_AGENT = f"Veche/{__version__}"

Query = Mapping[str, str | int | Sequence[str]]


class FederationError(Exception):
    def __init__(self, destination: str, message: str) -> None:
        super().__init__(f"{destination}: {message}")
        self.destination = destination


class DestinationUnreachable(FederationError):
    """The request did not get an HTTP answer from the destination."""


class FederationHttpError(FederationError):
    """The destination answered with a non-2xx status."""

    def __init__(
        self, destination: str, status: int, errcode: str | None, error: str | None, body: Any
    ) -> None:
        super().__init__(destination, f"HTTP {status} {errcode or ''} {error or ''}".rstrip())
        self.status = status
        self.errcode = errcode
        self.error = error
        self.body = body


class BadFederationResponse(FederationError):
    """A 2xx answer whose body is not JSON, or is larger than allowed."""


def federation_path(template: str, *segments: str) -> str:
    """`template` with each `{}` replaced by a percent-encoded path segment."""
    return template.format(*(quote(segment, safe="") for segment in segments))


def encode_query(query: Query | None) -> str:
    if not query:
        return ""
    items = {key: str(value) if isinstance(value, int) else value for key, value in query.items()}
    return urlencode(items, doseq=True, quote_via=quote)


class FederationClient:
    def __init__(
        self,
        *,
        server_name: str,
        signing_key: SigningKey,
        resolver: ServerResolver,
        ssl_context: ssl.SSLContext,
    ) -> None:
        self.server_name = server_name
        self._signing_key = signing_key
        self._resolver = resolver
        self._ssl = ssl_context
        self._session: aiohttp.ClientSession | None = None

    async def get_json(
        self,
        destination: str,
        path: str,
        query: Query | None = None,
        *,
        timeout: float | None = None,
        max_response_size: int = DEFAULT_MAX_RESPONSE_BYTES,
    ) -> Any:
        return await self.request(
            "GET", destination, path, query, timeout=timeout, max_response_size=max_response_size
        )

    async def put_json(
        self,
        destination: str,
        path: str,
        body: Any,
        query: Query | None = None,
        *,
        timeout: float | None = None,
        max_response_size: int = DEFAULT_MAX_RESPONSE_BYTES,
    ) -> Any:
        return await self.request(
            "PUT", destination, path, query, body,
            timeout=timeout, max_response_size=max_response_size,
        )

    async def post_json(
        self,
        destination: str,
        path: str,
        body: Any,
        query: Query | None = None,
        *,
        timeout: float | None = None,
        max_response_size: int = DEFAULT_MAX_RESPONSE_BYTES,
    ) -> Any:
        return await self.request(
            "POST", destination, path, query, body,
            timeout=timeout, max_response_size=max_response_size,
        )

    async def request(
        self,
        method: str,
        destination: str,
        path: str,
        query: Query | None = None,
        body: Any = None,
        *,
        timeout: float | None = None,
        max_response_size: int = DEFAULT_MAX_RESPONSE_BYTES,
    ) -> Any:
        """Send a signed request and return the parsed JSON of a 2xx answer."""
        async with self._exchange(method, destination, path, query, body, timeout) as response:
            return await _read_response(destination, response, max_response_size)

    @asynccontextmanager
    async def get_stream(
        self, destination: str, path: str, query: Query | None = None, *, timeout: float | None = None
    ) -> AsyncIterator[aiohttp.ClientResponse]:
        """A signed GET whose 2xx answer is handed over unread, for bodies that are not
        JSON (media); an error status raises FederationHttpError as `request` does."""
        async with self._exchange("GET", destination, path, query, None, timeout) as response:
            if response.status >= 300:
                await _read_response(destination, response, DEFAULT_MAX_RESPONSE_BYTES)
            yield response

    @asynccontextmanager
    async def _exchange(
        self,
        method: str,
        destination: str,
        path: str,
        query: Query | None,
        body: Any,
        timeout: float | None,
    ) -> AsyncIterator[aiohttp.ClientResponse]:
        if not path.startswith("/_matrix/"):
            raise ValueError(f"federation paths start with /_matrix/, got {path!r}")
        query_string = encode_query(query)
        target = f"{path}?{query_string}" if query_string else path
        try:
            server = await self._resolver.resolve(destination)
        except DiscoveryError as e:
            raise DestinationUnreachable(destination, str(e)) from None
        headers = {
            "Host": server.host_header,
            "Authorization": sign_request(
                self._signing_key, method, target, self.server_name, destination, body
            ),
            "User-Agent": USER_AGENT,
        }
        data = None
        if body is not None:
            # Events of room versions 1-5 may hold numbers orjson cannot write.
            data = encode_canonical_json(body, strict=False)
            headers["Content-Type"] = "application/json"
        client_timeout = aiohttp.ClientTimeout(
            total=timeout or DEFAULT_TIMEOUT_SECONDS, sock_connect=CONNECT_TIMEOUT_SECONDS
        )
        failures: list[str] = []
        for ip, port in server.addresses:
            url = URL(f"https://{format_host_port(ip, port)}{target}", encoded=True)
            via = f"{method} {path} via {format_host_port(ip, port)}"
            try:
                response = await self._client().request(
                    method,
                    url,
                    data=data,
                    headers=headers,
                    server_hostname=server.tls_hostname,
                    timeout=client_timeout,
                    allow_redirects=False,
                )
            except aiohttp.ClientConnectorError as e:
                # Nothing was sent, so even a PUT may go to the next address.
                failures.append(f"{format_host_port(ip, port)}: {e.os_error or e}")
                continue
            except (aiohttp.ClientError, asyncio.TimeoutError, ssl.SSLError, OSError) as e:
                raise DestinationUnreachable(destination, f"{via}: {e!r}") from None
            try:
                async with response:
                    yield response
            except (aiohttp.ClientError, asyncio.TimeoutError, ssl.SSLError) as e:
                raise DestinationUnreachable(destination, f"{via}: {e!r}") from None
            return
        raise DestinationUnreachable(destination, "cannot connect: " + "; ".join(failures))

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            connector = aiohttp.TCPConnector(
                ssl=self._ssl, limit=0, limit_per_host=CONNECTIONS_PER_ADDRESS
            )
            self._session = aiohttp.ClientSession(connector=connector)
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


async def _read_response(
    destination: str, response: aiohttp.ClientResponse, max_size: int
) -> Any:
    body = await _read_limited(destination, response, max_size)
    try:
        parsed = decode_json(body, strict=False) if body else None
    except CanonicalJsonError:
        parsed = None
    if response.status >= 300:
        errcode = parsed.get("errcode") if isinstance(parsed, dict) else None
        error = parsed.get("error") if isinstance(parsed, dict) else None
        raise FederationHttpError(
            destination,
            response.status,
            errcode if isinstance(errcode, str) else None,
            error if isinstance(error, str) else None,
            parsed,
        )
    if parsed is None:
        raise BadFederationResponse(destination, f"HTTP {response.status} body is not JSON")
    return parsed


async def _read_limited(
    destination: str, response: aiohttp.ClientResponse, max_size: int
) -> bytes:
    if response.content_length is not None and response.content_length > max_size:
        raise BadFederationResponse(destination, f"response larger than {max_size} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.content.iter_any():
        size += len(chunk)
        if size > max_size:
            raise BadFederationResponse(destination, f"response larger than {max_size} bytes")
        chunks.append(chunk)
    return b"".join(chunks)
