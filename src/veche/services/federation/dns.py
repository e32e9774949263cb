"""The DNS look-ups server discovery needs: SRV records and host addresses.

`DnsResolver` is what discovery depends on, so tests hand it a fake. `SystemDnsResolver`
asks the system: SRV through dnspython (the standard library has no SRV look-up),
addresses through `getaddrinfo`, so /etc/hosts and the system's resolver configuration
apply as they do for every other program on the machine.

dnspython is imported at the first SRV look-up, not at start: it adds about 3 MB to the
process, which a server that never federates (or has not yet) need not carry.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import dns.asyncresolver

logger = logging.getLogger(__name__)

LOOKUP_TIMEOUT_SECONDS = 10.0


class DnsError(Exception):
    """A name could not be resolved to any address."""


@dataclass(frozen=True, slots=True)
class SrvRecord:
    priority: int
    weight: int
    port: int
    target: str  # without the trailing dot


class DnsResolver(Protocol):
    async def srv(self, name: str) -> list[SrvRecord]:
        """The SRV records of `name`; empty when there are none (or the look-up failed)."""
        ...

    async def addresses(self, host: str) -> list[str]:
        """IP addresses of `host` (A and AAAA, CNAMEs followed); raises `DnsError`."""
        ...


class SystemDnsResolver:
    def __init__(self) -> None:
        self._resolver: dns.asyncresolver.Resolver | None = None

    async def srv(self, name: str) -> list[SrvRecord]:
        import dns.exception

        try:
            resolver = self._srv_resolver()
            answer = await resolver.resolve(name, "SRV", lifetime=LOOKUP_TIMEOUT_SECONDS)
        except (dns.exception.DNSException, OSError) as e:
            # No record, no such name, or no DNS at all: discovery goes on to its next step.
            logger.debug("SRV look-up of %s: %s", name, e)
            return []
        records = []
        for rdata in answer:
            target = rdata.target.to_text(omit_final_dot=True)
            # "." as the target means the service is decidedly not available (RFC 2782).
            if target and target != ".":
                records.append(SrvRecord(rdata.priority, rdata.weight, rdata.port, target))
        return records

    def _srv_resolver(self) -> dns.asyncresolver.Resolver:
        if self._resolver is None:
            import dns.asyncresolver

            self._resolver = dns.asyncresolver.Resolver()
        return self._resolver

    async def addresses(self, host: str) -> list[str]:
        loop = asyncio.get_running_loop()
        try:
            infos = await asyncio.wait_for(
                loop.getaddrinfo(host, None, type=socket.SOCK_STREAM), LOOKUP_TIMEOUT_SECONDS
            )
        # UnicodeError: a DNS name the grammar allows but IDNA cannot encode ("a..b").
        except (OSError, asyncio.TimeoutError, UnicodeError) as e:
            raise DnsError(f"cannot resolve {host}: {e}") from None
        seen: dict[str, None] = {}
        for _family, _type, _proto, _name, sockaddr in infos:
            seen.setdefault(str(sockaddr[0]), None)
        if not seen:
            raise DnsError(f"{host} has no addresses")
        return list(seen)
