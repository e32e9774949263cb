"""URL previews (GET /_matrix/client/v1/media/preview_url): fetch a page with size, time
and redirect limits, only from addresses `ssrf` allows, and answer with its Open Graph
data; the page's image is stored as media and referred to by its mxc URI. Answers are
cached per URL."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit

import aiohttp

from veche.errors import MatrixError, forbidden, invalid_param
from veche.protocol.media import base_content_type
from veche.services.keyed_lock import KeyedLock
from veche.services.media.opengraph import parse_open_graph
from veche.services.media.repository import MediaRepository, now_ms
from veche.services.media.ssrf import BlockedAddress, GuardedResolver, Network, blocked_cause, check_host

logger = logging.getLogger(__name__)

FETCH_TIMEOUT_SECONDS = 10.0
MAX_REDIRECTS = 5
# Only the head of a page matters for its meta tags; the rest is not read.
MAX_PAGE_BYTES = 1024 * 1024
MAX_IMAGE_BYTES = 10 * 1024 * 1024
CACHE_LIFETIME_MS = 3600 * 1000
# Pages fetched at once, whatever the number of users asking.
MAX_CONCURRENT_FETCHES = 8
MAX_URL_LENGTH = 2048
_REDIRECTS = {301, 302, 303, 307, 308}
_CHARSET = re.compile(rb"""<meta[^>]+charset=["']?([A-Za-z0-9_-]+)""", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class _Fetched:
    url: str
    content_type: str
    body: bytes
    charset: str | None


class UrlPreviewer:
    def __init__(self, repository: MediaRepository, allowed_ranges: Sequence[Network]) -> None:
        self._repository = repository
        self._allowed = tuple(allowed_ranges)
        self._session: aiohttp.ClientSession | None = None
        self._locks = KeyedLock()
        self._fetch_slots = asyncio.Semaphore(MAX_CONCURRENT_FETCHES)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def preview(self, user_id: str, url: str) -> dict[str, Any]:
        _check_url(url)
        store = self._repository.store
        async with self._locks.hold(url):
            cached = await store.get_preview(url, now_ms())
            if cached is not None:
                return cached
            async with self._fetch_slots:
                og = await self._build(user_id, url)
            now = now_ms()
            await store.put_preview(url, og, now, now + CACHE_LIFETIME_MS)
            return og

    async def _build(self, user_id: str, url: str) -> dict[str, Any]:
        page = await self._fetch(url, MAX_PAGE_BYTES)
        if base_content_type(page.content_type).startswith("image/"):
            # A link straight to an image previews as that image.
            return await self._image_fields(user_id, page) if page.body else {}
        if base_content_type(page.content_type) not in ("text/html", "application/xhtml+xml"):
            return {}
        og: dict[str, Any] = parse_open_graph(_decode(page), page.url)
        image_url = og.pop("og:image", None)
        for key in ("og:image:width", "og:image:height", "og:image:type", "og:image:secure_url"):
            og.pop(key, None)
        if image_url:
            og.update(await self._linked_image(user_id, image_url))
        return og

    async def _linked_image(self, user_id: str, image_url: str) -> dict[str, Any]:
        try:
            _check_url(image_url)
            image = await self._fetch(image_url, MAX_IMAGE_BYTES, whole=True)
        except MatrixError as e:
            logger.debug("Preview image %s not fetched: %s", image_url, e.message)
            return {}
        if not base_content_type(image.content_type).startswith("image/") or not image.body:
            return {}
        return await self._image_fields(user_id, image)

    async def _image_fields(self, user_id: str, image: _Fetched) -> dict[str, Any]:
        content_uri, content = await self._repository.upload_described(
            user_id,
            _single_chunk(image.body),
            content_length=len(image.body),
            content_type=image.content_type,
            filename=None,
        )
        fields: dict[str, Any] = {
            "og:image": content_uri,
            "og:image:type": content.content_type,
            "matrix:image:size": content.size,
        }
        if content.image is not None and not content.image.too_large_to_thumbnail():
            fields["og:image:width"] = content.image.width
            fields["og:image:height"] = content.image.height
        return fields

    async def _fetch(self, url: str, max_bytes: int, *, whole: bool = False) -> _Fetched:
        """GETs `url`, following redirects itself so every hop's host is checked. With
        `whole`, a body over `max_bytes` is refused; otherwise only its head is read."""
        session = self._client()
        for _ in range(MAX_REDIRECTS + 1):
            host = urlsplit(url).hostname or ""
            try:
                check_host(host, self._allowed)
                async with session.get(url, allow_redirects=False) as response:
                    location = response.headers.get("Location")
                    if response.status in _REDIRECTS and location:
                        url = urljoin(url, location)
                        _check_url(url)
                        continue
                    if response.status != 200:
                        raise _fetch_failed(f"the server answered {response.status}")
                    body = await _read_limited(response, max_bytes, whole)
                    return _Fetched(
                        str(response.url), response.content_type, body, response.charset
                    )
            except BlockedAddress as e:
                raise _blocked(e) from None
            except (aiohttp.ClientError, TimeoutError, OSError) as e:
                blocked = blocked_cause(e)
                if blocked is not None:
                    raise _blocked(blocked) from None
                raise _fetch_failed(str(e) or type(e).__name__) from None
        raise _fetch_failed("too many redirects")

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(resolver=GuardedResolver(self._allowed)),
                timeout=aiohttp.ClientTimeout(total=FETCH_TIMEOUT_SECONDS),
                headers={"User-Agent": "Veche URL preview"},
                # Never through a proxy from the environment: it would bypass the checks.
                trust_env=False,
            )
        return self._session


async def _read_limited(response: aiohttp.ClientResponse, max_bytes: int, whole: bool) -> bytes:
    if whole and response.content_length is not None and response.content_length > max_bytes:
        raise MatrixError(502, "M_TOO_LARGE", "The linked content is too large")
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.content.iter_chunked(64 * 1024):
        chunks.append(chunk)
        size += len(chunk)
        if size >= max_bytes:
            if whole and size > max_bytes:
                raise MatrixError(502, "M_TOO_LARGE", "The linked content is too large")
            break
    return b"".join(chunks)[:max_bytes]


async def _single_chunk(data: bytes) -> AsyncIterator[bytes]:
    yield data


def _decode(page: _Fetched) -> str:
    charset = page.charset
    if charset is None:
        match = _CHARSET.search(page.body[:4096])
        charset = match.group(1).decode("ascii") if match else "utf-8"
    try:
        return page.body.decode(charset, errors="replace")
    except LookupError:
        return page.body.decode("utf-8", errors="replace")


def _check_url(url: str) -> None:
    parts = urlsplit(url)
    if len(url) > MAX_URL_LENGTH or parts.scheme not in ("http", "https") or not parts.hostname:
        raise invalid_param("url must be an absolute http or https URL")


def _blocked(error: BlockedAddress) -> MatrixError:
    return forbidden(f"URL previews may not fetch from this address ({error})")


def _fetch_failed(reason: str) -> MatrixError:
    return MatrixError(502, "M_UNKNOWN", f"Could not fetch the URL: {reason}")


