"""Server discovery: where to connect for a server name, with which Host header and which
certificate name (server-server-api.md, "Resolving server names").

`ServerResolver.resolve(server_name)` follows the spec's order:

1. an IP literal: that address, the given port or 8448; the certificate must be for the IP;
2. a hostname with a port: its addresses and that port; certificate for the hostname;
3. otherwise `/.well-known/matrix/server` of the hostname; a delegated name is resolved
   by 3.1–3.5 (IP literal, explicit port, SRV `_matrix-fed._tcp`, the deprecated SRV
   `_matrix._tcp`, port 8448), with Host and certificate name the delegated hostname;
4–6. without delegation: SRV `_matrix-fed._tcp`, then `_matrix._tcp`, then port 8448,
   with Host and certificate name the original hostname.

Every address found must pass the `AddressPolicy`; addresses it refuses are dropped, and
a name left with none fails, so a server name cannot aim our requests at internal hosts.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

from veche.protocol.identifiers import InvalidIdentifier, parse_server_name
from veche.services.federation.addresses import AddressPolicy
from veche.services.federation.dns import DnsError, DnsResolver, SrvRecord
from veche.services.federation.well_known import WellKnownCache

DEFAULT_FEDERATION_PORT = 8448
SRV_SERVICES = ("_matrix-fed._tcp", "_matrix._tcp")


class DiscoveryError(Exception):
    """The server name cannot be resolved to an address we may connect to."""


@dataclass(frozen=True, slots=True)
class ResolvedServer:
    """How to reach a server: try `addresses` in order."""

    server_name: str
    # The Host header of every request.
    host_header: str
    # The name the certificate must be valid for and the SNI to send; None when the
    # certificate must be valid for the IP address connected to (no SNI then).
    tls_hostname: str | None
    addresses: tuple[tuple[str, int], ...]  # (IP without brackets, port)


class ServerResolver:
    def __init__(
        self,
        *,
        dns: DnsResolver,
        well_known: WellKnownCache,
        policy: AddressPolicy,
        rng: random.Random | None = None,
    ) -> None:
        self._dns = dns
        self._well_known = well_known
        self._policy = policy
        self._rng = rng or random.Random()

    async def resolve(self, server_name: str) -> ResolvedServer:
        try:
            host, port = parse_server_name(server_name)
        except InvalidIdentifier as e:
            raise DiscoveryError(str(e)) from None
        ip = _ip_literal(host)
        if ip is not None:
            return self._checked(server_name, server_name, None, [(ip, port or DEFAULT_FEDERATION_PORT)])
        if port is not None:
            return self._checked(server_name, server_name, host, await self._addresses(host, port))
        delegated = await self._well_known.delegated_server(host)
        if delegated is not None:
            return await self._resolve_delegated(server_name, delegated)
        return self._checked(server_name, host, host, await self._without_port(host))

    async def _resolve_delegated(self, server_name: str, delegated: str) -> ResolvedServer:
        host, port = parse_server_name(delegated)
        ip = _ip_literal(host)
        if ip is not None:
            return self._checked(server_name, delegated, None, [(ip, port or DEFAULT_FEDERATION_PORT)])
        if port is not None:
            return self._checked(server_name, delegated, host, await self._addresses(host, port))
        return self._checked(server_name, host, host, await self._without_port(host))

    async def _without_port(self, host: str) -> list[tuple[str, int]]:
        for service in SRV_SERVICES:
            records = await self._dns.srv(f"{service}.{host}")
            if records:
                return await self._srv_addresses(records)
        return await self._addresses(host, DEFAULT_FEDERATION_PORT)

    async def _srv_addresses(self, records: Sequence[SrvRecord]) -> list[tuple[str, int]]:
        addresses: list[tuple[str, int]] = []
        errors: list[str] = []
        for record in order_srv_records(records, self._rng):
            try:
                addresses += await self._addresses(record.target, record.port)
            except DiscoveryError as e:
                errors.append(str(e))
        if not addresses:
            raise DiscoveryError("; ".join(errors) or "no usable SRV target")
        return addresses

    async def _addresses(self, host: str, port: int) -> list[tuple[str, int]]:
        try:
            return [(ip, port) for ip in await self._dns.addresses(host)]
        except DnsError as e:
            raise DiscoveryError(str(e)) from None

    def _checked(
        self,
        server_name: str,
        host_header: str,
        tls_hostname: str | None,
        addresses: list[tuple[str, int]],
    ) -> ResolvedServer:
        allowed = tuple(address for address in addresses if self._policy.allows(address[0]))
        if not allowed:
            refused = ", ".join(ip for ip, _ in addresses)
            raise DiscoveryError(
                f"{server_name} resolves only to addresses federation may not reach ({refused})"
            )
        return ResolvedServer(server_name, host_header, tls_hostname, allowed)


def order_srv_records(records: Sequence[SrvRecord], rng: random.Random) -> list[SrvRecord]:
    """RFC 2782 order: ascending priority, and within a priority a weighted random order."""
    ordered: list[SrvRecord] = []
    for priority in sorted({record.priority for record in records}):
        group = [record for record in records if record.priority == priority]
        while group:
            total = sum(record.weight for record in group)
            pick = rng.uniform(0, total) if total else 0
            chosen = group[0]
            running = 0
            for record in group:
                running += record.weight
                if total and running >= pick:
                    chosen = record
                    break
            ordered.append(chosen)
            group.remove(chosen)
    return ordered


def _ip_literal(host: str) -> str | None:
    """The address of an IP-literal hostname (IPv6 without brackets), else None."""
    if host.startswith("["):
        return host[1:-1]
    parts = host.split(".")
    if len(parts) == 4 and all(part.isdigit() for part in parts):
        return host
    return None
