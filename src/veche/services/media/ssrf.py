"""Which addresses URL previews may connect to, and an aiohttp resolver that enforces it.

A preview makes the server fetch a URL a user chose, so without a guard any user could
make it reach services on its own network (server-side request forgery). Only globally
routable unicast addresses are allowed, plus networks the operator lists explicitly.
The resolver filters every DNS answer aiohttp connects to, so a name that resolves (or
later re-resolves) to an internal address cannot slip through; literal IP hosts, which
aiohttp does not resolve, are checked with `check_host` before each request.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Sequence
from typing import Any

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import ThreadedResolver

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


class BlockedAddress(OSError):
    """The host is, or resolves only to, addresses previews must not reach."""


def is_allowed_address(address: Address, allowed: Sequence[Network]) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if any(address in network for network in allowed):
        return True
    # `is_global` is False for private, loopback, link-local, shared (CGNAT), reserved and
    # documentation ranges; multicast can be global but is never a web server.
    return address.is_global and not address.is_multicast


def check_host(host: str, allowed: Sequence[Network]) -> None:
    """Raises BlockedAddress if `host` is a literal IP address previews must not reach."""
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return  # a name: the resolver checks what it resolves to
    if not is_allowed_address(address, allowed):
        raise BlockedAddress(f"{host} is not a public address")


class GuardedResolver(AbstractResolver):
    def __init__(self, allowed: Sequence[Network]) -> None:
        self._allowed = tuple(allowed)
        self._inner = ThreadedResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        kept = [r for r in results if is_allowed_address(ipaddress.ip_address(r["host"]), self._allowed)]
        if not kept:
            raise BlockedAddress(f"{host} resolves to no public address")
        return kept

    async def close(self) -> None:
        await self._inner.close()


def blocked_cause(error: BaseException) -> BlockedAddress | None:
    """The BlockedAddress behind an aiohttp connection error, if that is what it was."""
    seen: Any = error
    while seen is not None:
        if isinstance(seen, BlockedAddress):
            return seen
        seen = getattr(seen, "os_error", None) or seen.__cause__
    return None
