"""Other servers' media, downloaded through GET /_matrix/federation/v1/media/download/{mediaId}
(server-server content_repository.yaml) for the media repository to cache.

The answer is multipart/mixed with two parts: JSON metadata (ignored: it is always `{}`
today) and either the bytes with their Content-Type and Content-Disposition, or a
`Location` header naming where to fetch them. A Location is followed once, without
signing, to public addresses only (private ones too when federation may reach them), so a
peer cannot make this server fetch from its own network.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from email.message import Message
from urllib.parse import urlsplit

import aiohttp

from veche.errors import not_found
from veche.services.federation.client import (
    BadFederationResponse,
    FederationClient,
    FederationError,
    FederationHttpError,
    federation_path,
)
from veche.services.federation.remote_errors import relay_failure
from veche.services.media.repository import RemoteContent
from veche.services.media.ssrf import GuardedResolver, Network, blocked_cause, check_host

logger = logging.getLogger(__name__)

DOWNLOAD = "/_matrix/federation/v1/media/download/{}"
LEGACY_DOWNLOAD = "/_matrix/media/v3/download/{}/{}"
# Large files take a while; the spec's timeout_ms (waiting for an upload) comes on top.
DOWNLOAD_TIMEOUT_SECONDS = 300.0
MAX_METADATA_BYTES = 64 * 1024
CHUNK_BYTES = 256 * 1024
_ANY_ADDRESS: tuple[Network, ...] = (ipaddress.ip_network("0.0.0.0/0"), ipaddress.ip_network("::/0"))


class FederatedMedia:
    def __init__(self, client: FederationClient, *, allow_private: bool) -> None:
        self._client = client
        self._allowed = _ANY_ADDRESS if allow_private else ()
        self._session: aiohttp.ClientSession | None = None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    @asynccontextmanager
    async def download(
        self, server_name: str, media_id: str, timeout_ms: int | None
    ) -> AsyncIterator[RemoteContent]:
        """404 M_NOT_FOUND when the media cannot be had (content-repo.yaml knows no other
        answer for that); a peer's 504 M_NOT_YET_UPLOADED or 502 M_TOO_LARGE relayed."""
        try:
            async with self._download(server_name, media_id, timeout_ms) as content:
                yield content
        except FederationError as e:
            relayed = relay_failure(e)
            if relayed.status >= 500 and relayed.errcode == "M_UNKNOWN":
                logger.info("Media %s/%s not fetched: %s", server_name, media_id, e)
                raise not_found(f"Could not fetch the media from {server_name}") from None
            raise relayed from None

    @asynccontextmanager
    async def _download(
        self, server_name: str, media_id: str, timeout_ms: int | None
    ) -> AsyncIterator[RemoteContent]:
        query: dict[str, str | int] = {"timeout_ms": timeout_ms} if timeout_ms is not None else {}
        timeout = DOWNLOAD_TIMEOUT_SECONDS + (timeout_ms or 0) / 1000
        answered = False
        try:
            async with self._client.get_stream(
                server_name, federation_path(DOWNLOAD, media_id), query, timeout=timeout
            ) as response:
                answered = True
                part = await _content_part(server_name, response)
                location = part.headers.get("Location")
                if location is not None:
                    async with self._follow(server_name, location, timeout) as content:
                        yield content
                    return
                yield RemoteContent(
                    part.headers.get("Content-Type"),
                    _filename(part.headers.get("Content-Disposition")),
                    _part_chunks(part),
                )
                return
        except FederationHttpError as e:
            if answered or (e.status, e.errcode) != (404, "M_UNRECOGNIZED"):
                raise
        # server-server-api.md "Content Repository": a server without the endpoint is asked
        # through the deprecated one, with allow_remote=false so it does not ask further.
        legacy_path = federation_path(LEGACY_DOWNLOAD, server_name, media_id)
        async with self._client.get_stream(
            server_name, legacy_path, {**query, "allow_remote": "false"}, timeout=timeout
        ) as response:
            yield RemoteContent(
                response.headers.get("Content-Type"),
                _filename(response.headers.get("Content-Disposition")),
                response.content.iter_chunked(CHUNK_BYTES),
            )

    @asynccontextmanager
    async def _follow(self, server_name: str, location: str, timeout: float) -> AsyncIterator[RemoteContent]:
        parts = urlsplit(location)
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise BadFederationResponse(server_name, f"media Location {location!r} is no http(s) URL")
        try:
            check_host(parts.hostname, self._allowed)
        except OSError as e:
            raise BadFederationResponse(server_name, f"media Location refused: {e}") from None
        try:
            async with self._http().get(
                location, timeout=aiohttp.ClientTimeout(total=timeout), allow_redirects=False
            ) as response:
                if response.status != 200:
                    raise BadFederationResponse(server_name, f"media Location answered {response.status}")
                yield RemoteContent(
                    response.headers.get("Content-Type"),
                    _filename(response.headers.get("Content-Disposition")),
                    response.content.iter_chunked(CHUNK_BYTES),
                )
        except (aiohttp.ClientError, TimeoutError) as e:
            blocked = blocked_cause(e)
            reason = f"refused ({blocked})" if blocked is not None else repr(e)
            raise BadFederationResponse(server_name, f"media Location {reason}") from None

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(resolver=GuardedResolver(self._allowed))
            )
        return self._session


async def _content_part(server_name: str, response: aiohttp.ClientResponse) -> aiohttp.BodyPartReader:
    """The second part of the answer, its metadata part read and skipped."""
    if not response.headers.get("Content-Type", "").lower().startswith("multipart/mixed"):
        raise BadFederationResponse(server_name, "media answer is not multipart/mixed")
    try:
        reader = aiohttp.MultipartReader(response.headers, response.content)
        metadata = await reader.next()
        if not isinstance(metadata, aiohttp.BodyPartReader):
            raise BadFederationResponse(server_name, "media answer has no metadata part")
        size = 0
        while chunk := await metadata.read_chunk(CHUNK_BYTES):
            size += len(chunk)
            if size > MAX_METADATA_BYTES:
                raise BadFederationResponse(server_name, "media metadata is too large")
        content = await reader.next()
    except ValueError as e:
        raise BadFederationResponse(server_name, f"malformed multipart answer: {e}") from None
    if not isinstance(content, aiohttp.BodyPartReader):
        raise BadFederationResponse(server_name, "media answer has no content part")
    return content


async def _part_chunks(part: aiohttp.BodyPartReader) -> AsyncIterator[bytes]:
    while chunk := await part.read_chunk(CHUNK_BYTES):
        yield chunk


def _filename(disposition: str | None) -> str | None:
    """The file name a Content-Disposition offers (RFC 6266, `filename*` included)."""
    if not disposition:
        return None
    message = Message()
    message["Content-Disposition"] = disposition
    try:
        return message.get_filename()
    except (ValueError, LookupError):
        return None
