"""Fetching and caching `/.well-known/matrix/server` (server-server-api.md, "Resolving
server names", step 3).

`WellKnownCache.delegated_server(hostname)` answers the delegated server name, or None
when the hostname delegates nothing (no file, a bad file, or an unreachable host: all of
them send discovery on to SRV and port 8448). Caching follows the spec's advice: a valid
answer for its Cache-Control max-age, 24 hours by default and at most 48; a missing or
invalid file for an hour; a network failure for a back-off that doubles with each repeated
failure, up to an hour.

The network part is a `WellKnownFetcher`, so tests hand in a fake one.
`HttpsWellKnownFetcher` is the real one: HTTPS with certificate checks, 30x redirects
followed (at most a few, never in a loop), every address connected to passing the
outgoing `AddressPolicy`.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import re
import socket
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from yarl import URL

from veche.protocol.canonical_json import CanonicalJsonError, decode_json
from veche.protocol.identifiers import is_valid_server_name
from veche.services.federation.addresses import AddressPolicy
from veche.services.federation.dns import DnsError, DnsResolver

logger = logging.getLogger(__name__)

WELL_KNOWN_PATH = "/.well-known/matrix/server"
DEFAULT_CACHE_SECONDS = 24 * 3600
MAX_CACHE_SECONDS = 48 * 3600
# A floor, so that max-age=0 does not turn every outgoing request into two.
MIN_CACHE_SECONDS = 5 * 60
INVALID_CACHE_SECONDS = 3600
FIRST_FAILURE_BACKOFF_SECONDS = 2 * 60
MAX_FAILURE_BACKOFF_SECONDS = 3600
MAX_REDIRECTS = 5
MAX_BODY_BYTES = 64 * 1024
FETCH_TIMEOUT_SECONDS = 10.0

_MAX_AGE = re.compile(r"(?:^|[,\s])max-age\s*=\s*\"?(\d+)", re.IGNORECASE)


class WellKnownUnreachable(Exception):
    """The well-known file could not be fetched at all (network, TLS, time-out)."""


@dataclass(frozen=True, slots=True)
class WellKnownResponse:
    status: int
    body: bytes
    cache_control: str | None


class WellKnownFetcher(Protocol):
    async def fetch(self, hostname: str) -> WellKnownResponse:
        """GET https://<hostname>/.well-known/matrix/server; raises `WellKnownUnreachable`."""
        ...


@dataclass(slots=True)
class _Entry:
    delegated: str | None
    expires_at: float
    failures: int = 0


class WellKnownCache:
    def __init__(
        self, fetcher: WellKnownFetcher, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._fetcher = fetcher
        self._clock = clock
        self._entries: dict[str, _Entry] = {}
        self._in_flight: dict[str, asyncio.Future[str | None]] = {}

    async def delegated_server(self, hostname: str) -> str | None:
        entry = self._entries.get(hostname)
        if entry is not None and entry.expires_at > self._clock():
            return entry.delegated
        pending = self._in_flight.get(hostname)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[str | None] = asyncio.get_running_loop().create_future()
        self._in_flight[hostname] = future
        try:
            delegated = await self._refresh(hostname, entry)
            future.set_result(delegated)
            return delegated
        except BaseException as e:
            future.set_exception(e)
            future.exception()  # retrieved here, so an unawaited future logs nothing
            raise
        finally:
            del self._in_flight[hostname]

    async def _refresh(self, hostname: str, previous: _Entry | None) -> str | None:
        now = self._clock()
        try:
            response = await self._fetcher.fetch(hostname)
        except WellKnownUnreachable as e:
            failures = (previous.failures if previous else 0) + 1
            backoff = min(
                FIRST_FAILURE_BACKOFF_SECONDS * 2 ** (failures - 1), MAX_FAILURE_BACKOFF_SECONDS
            )
            logger.info("No .well-known for %s (retry in %ds): %s", hostname, backoff, e)
            self._entries[hostname] = _Entry(None, now + backoff, failures)
            return None
        delegated = parse_well_known(response)
        if delegated is None:
            self._entries[hostname] = _Entry(None, now + INVALID_CACHE_SECONDS)
            return None
        self._entries[hostname] = _Entry(delegated, now + cache_seconds(response.cache_control))
        return delegated


def parse_well_known(response: WellKnownResponse) -> str | None:
    """The valid `m.server` of a response, or None for anything else.

    The body is read as JSON whatever its Content-Type, as wellknown.yaml asks.
    """
    if response.status != 200:
        return None
    try:
        body = decode_json(response.body)
    except CanonicalJsonError:
        return None
    if not isinstance(body, dict):
        return None
    delegated = body.get("m.server")
    if not isinstance(delegated, str) or not is_valid_server_name(delegated):
        return None
    return delegated


def cache_seconds(cache_control: str | None) -> float:
    if cache_control:
        if "no-store" in cache_control.lower():
            return MIN_CACHE_SECONDS
        match = _MAX_AGE.search(cache_control)
        if match:
            return max(MIN_CACHE_SECONDS, min(int(match.group(1)), MAX_CACHE_SECONDS))
    return DEFAULT_CACHE_SECONDS


class HttpsWellKnownFetcher:
    def __init__(
        self, *, ssl_context: ssl.SSLContext, dns: DnsResolver, policy: AddressPolicy
    ) -> None:
        self._ssl = ssl_context
        self._dns = dns
        self._policy = policy
        self._session: aiohttp.ClientSession | None = None

    async def fetch(self, hostname: str) -> WellKnownResponse:
        url = URL.build(scheme="https", host=hostname, path=WELL_KNOWN_PATH)
        visited = {url}
        for _ in range(MAX_REDIRECTS + 1):
            if url.host is None or not _is_allowed_host(url.host, self._policy):
                raise WellKnownUnreachable(f"refusing to fetch {url}: address not allowed")
            try:
                async with self._client().get(url, allow_redirects=False) as response:
                    if response.status in (301, 302, 303, 307, 308):
                        url = _redirect_target(url, response.headers.get("Location"))
                        if url in visited:
                            raise WellKnownUnreachable(f"redirect loop at {url}")
                        visited.add(url)
                        continue
                    body = await response.content.read(MAX_BODY_BYTES + 1)
                    if len(body) > MAX_BODY_BYTES:
                        return WellKnownResponse(413, b"", None)
                    return WellKnownResponse(
                        response.status, body, response.headers.get("Cache-Control")
                    )
            # UnicodeError: a DNS name the grammar allows but IDNA cannot encode ("a..b").
            except (
                aiohttp.ClientError, asyncio.TimeoutError, ssl.SSLError, OSError, UnicodeError
            ) as e:
                raise WellKnownUnreachable(f"{url}: {e!r}") from None
        raise WellKnownUnreachable(f"more than {MAX_REDIRECTS} redirects from {hostname}")

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            connector = aiohttp.TCPConnector(
                ssl=self._ssl,
                resolver=_PolicyResolver(self._dns, self._policy),
                use_dns_cache=False,
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                timeout=aiohttp.ClientTimeout(total=FETCH_TIMEOUT_SECONDS),
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


def _redirect_target(current: URL, location: str | None) -> URL:
    if not location:
        raise WellKnownUnreachable(f"redirect without a Location from {current}")
    target = current.join(URL(location))
    if target.scheme != "https":
        raise WellKnownUnreachable(f"refusing a redirect to {target.scheme}: {target}")
    return target


def _is_allowed_host(host: str, policy: AddressPolicy) -> bool:
    # Hostnames are checked address by address in the resolver; IP literals never reach it.
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return True
    return policy.allows(host)


class _PolicyResolver(AbstractResolver):
    """Resolves through `DnsResolver`, leaving out the addresses the policy refuses."""

    def __init__(self, dns: DnsResolver, policy: AddressPolicy) -> None:
        self._dns = dns
        self._policy = policy

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        try:
            addresses = await self._dns.addresses(host)
        except DnsError as e:
            raise OSError(str(e)) from None
        allowed = [ip for ip in addresses if self._policy.allows(ip)]
        if not allowed:
            raise OSError(f"{host} resolves only to addresses federation may not reach")
        return [
            ResolveResult(
                hostname=host,
                host=ip,
                port=port,
                family=socket.AF_INET6 if ":" in ip else socket.AF_INET,
                proto=0,
                flags=socket.AI_NUMERICHOST,
            )
            for ip in allowed
        ]

    async def close(self) -> None:
        return None
