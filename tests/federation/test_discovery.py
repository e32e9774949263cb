"""Server discovery in the spec's order, with fake DNS and .well-known (no network)."""

from __future__ import annotations

import random

import pytest

from veche.services.federation.addresses import AddressPolicy
from veche.services.federation.discovery import (
    DiscoveryError,
    ResolvedServer,
    ServerResolver,
    order_srv_records,
)
from veche.services.federation.dns import DnsError, SrvRecord
from veche.services.federation.well_known import (
    DEFAULT_CACHE_SECONDS,
    FIRST_FAILURE_BACKOFF_SECONDS,
    INVALID_CACHE_SECONDS,
    MAX_CACHE_SECONDS,
    WellKnownCache,
    WellKnownResponse,
    WellKnownUnreachable,
)

PUBLIC = "93.184.216.34"  # a globally routable address (no connection is made)


class FakeDns:
    def __init__(self, hosts: dict[str, list[str]], srv: dict[str, list[SrvRecord]] | None = None) -> None:
        self.hosts = hosts
        self.srv_records = srv or {}
        self.srv_queries: list[str] = []

    async def srv(self, name: str) -> list[SrvRecord]:
        self.srv_queries.append(name)
        return self.srv_records.get(name, [])

    async def addresses(self, host: str) -> list[str]:
        if host not in self.hosts:
            raise DnsError(f"no such host {host}")
        return self.hosts[host]


class FakeWellKnown:
    def __init__(self, answers: dict[str, WellKnownResponse | Exception]) -> None:
        self.answers = answers
        self.fetches: list[str] = []

    async def fetch(self, hostname: str) -> WellKnownResponse:
        self.fetches.append(hostname)
        answer = self.answers.get(hostname, WellKnownResponse(404, b"", None))
        if isinstance(answer, Exception):
            raise answer
        return answer


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def well_known(delegated: str, cache_control: str | None = None) -> WellKnownResponse:
    return WellKnownResponse(200, f'{{"m.server": "{delegated}"}}'.encode(), cache_control)


def resolver(dns: FakeDns, fetcher: FakeWellKnown, *, allow_private: bool = True) -> ServerResolver:
    return ServerResolver(
        dns=dns,
        well_known=WellKnownCache(fetcher, Clock()),
        policy=AddressPolicy(allow_private=allow_private),
        rng=random.Random(1),
    )


async def test_ip_literal_with_and_without_port() -> None:
    fetcher = FakeWellKnown({})
    r = resolver(FakeDns({}), fetcher)
    assert await r.resolve("1.2.3.4") == ResolvedServer("1.2.3.4", "1.2.3.4", None, (("1.2.3.4", 8448),))
    assert await r.resolve("1.2.3.4:99") == ResolvedServer("1.2.3.4:99", "1.2.3.4:99", None, (("1.2.3.4", 99),))
    assert await r.resolve("[2001:db8::1]:99") == ResolvedServer(
        "[2001:db8::1]:99", "[2001:db8::1]:99", None, (("2001:db8::1", 99),)
    )
    assert fetcher.fetches == []


async def test_hostname_with_port_skips_well_known_and_srv() -> None:
    dns = FakeDns({"example.org": ["1.1.1.1", "2001:db8::2"]})
    fetcher = FakeWellKnown({})
    server = await resolver(dns, fetcher).resolve("example.org:1234")
    assert server == ResolvedServer(
        "example.org:1234", "example.org:1234", "example.org", (("1.1.1.1", 1234), ("2001:db8::2", 1234))
    )
    assert fetcher.fetches == [] and dns.srv_queries == []


@pytest.mark.parametrize(
    ("delegated", "expected"),
    [
        # 3.1: an IP literal, its port or 8448, Host the delegated name.
        ("5.6.7.8", ResolvedServer("example.org", "5.6.7.8", None, (("5.6.7.8", 8448),))),
        ("5.6.7.8:9", ResolvedServer("example.org", "5.6.7.8:9", None, (("5.6.7.8", 9),))),
        # 3.2: a hostname with a port.
        ("matrix.example.net:443", ResolvedServer("example.org", "matrix.example.net:443", "matrix.example.net", (("9.9.9.9", 443),))),
        # 3.5: no port, no SRV: port 8448.
        ("matrix.example.net", ResolvedServer("example.org", "matrix.example.net", "matrix.example.net", (("9.9.9.9", 8448),))),
    ],
)
async def test_well_known_delegation(delegated: str, expected: ResolvedServer) -> None:
    dns = FakeDns({"matrix.example.net": ["9.9.9.9"]})
    fetcher = FakeWellKnown({"example.org": well_known(delegated)})
    assert await resolver(dns, fetcher).resolve("example.org") == expected


async def test_delegation_then_srv_matrix_fed_first() -> None:
    dns = FakeDns(
        {"fed.example.net": ["7.7.7.7"], "old.example.net": ["6.6.6.6"]},
        {
            "_matrix-fed._tcp.matrix.example.net": [SrvRecord(10, 0, 8443, "fed.example.net")],
            "_matrix._tcp.matrix.example.net": [SrvRecord(10, 0, 8000, "old.example.net")],
        },
    )
    fetcher = FakeWellKnown({"example.org": well_known("matrix.example.net")})
    server = await resolver(dns, fetcher).resolve("example.org")
    # The certificate and Host are for the delegated name, not the SRV target.
    assert server == ResolvedServer("example.org", "matrix.example.net", "matrix.example.net", (("7.7.7.7", 8443),))


async def test_deprecated_srv_when_no_matrix_fed() -> None:
    dns = FakeDns(
        {"old.example.net": ["6.6.6.6"]},
        {"_matrix._tcp.example.org": [SrvRecord(10, 0, 8000, "old.example.net")]},
    )
    server = await resolver(dns, FakeWellKnown({})).resolve("example.org")
    assert server == ResolvedServer("example.org", "example.org", "example.org", (("6.6.6.6", 8000),))
    assert dns.srv_queries == ["_matrix-fed._tcp.example.org", "_matrix._tcp.example.org"]


async def test_no_delegation_no_srv_uses_8448() -> None:
    dns = FakeDns({"example.org": ["1.1.1.1"]})
    server = await resolver(dns, FakeWellKnown({"example.org": WellKnownUnreachable("down")})).resolve("example.org")
    assert server == ResolvedServer("example.org", "example.org", "example.org", (("1.1.1.1", 8448),))


@pytest.mark.parametrize(
    "response",
    [
        WellKnownResponse(200, b"not json", None),
        WellKnownResponse(200, b'{"m.server": 5}', None),
        WellKnownResponse(200, b'{"m.server": "bad name!"}', None),
        WellKnownResponse(200, b"[]", None),
        WellKnownResponse(500, b'{"m.server": "x.example"}', None),
    ],
)
async def test_invalid_well_known_is_no_delegation(response: WellKnownResponse) -> None:
    dns = FakeDns({"example.org": ["1.1.1.1"]})
    server = await resolver(dns, FakeWellKnown({"example.org": response})).resolve("example.org")
    assert server.addresses == (("1.1.1.1", 8448),)


async def test_private_addresses_refused_unless_allowed() -> None:
    dns = FakeDns({"internal.example": ["10.0.0.1", "127.0.0.1"], "mixed.example": ["127.0.0.1", PUBLIC]})
    strict = resolver(dns, FakeWellKnown({}), allow_private=False)
    for name in ("internal.example:8448", "127.0.0.1:8448", "[::1]", "[::ffff:127.0.0.1]", "169.254.169.254"):
        with pytest.raises(DiscoveryError):
            await strict.resolve(name)
    assert (await strict.resolve("mixed.example:1")).addresses == ((PUBLIC, 1),)
    lenient = resolver(dns, FakeWellKnown({}), allow_private=True)
    assert (await lenient.resolve("internal.example:1")).addresses == (("10.0.0.1", 1), ("127.0.0.1", 1))


async def test_delegation_to_a_private_address_is_refused() -> None:
    fetcher = FakeWellKnown({"example.org": well_known("127.0.0.1:8448")})
    with pytest.raises(DiscoveryError):
        await resolver(FakeDns({}), fetcher, allow_private=False).resolve("example.org")


async def test_unresolvable_name_fails() -> None:
    with pytest.raises(DiscoveryError):
        await resolver(FakeDns({}), FakeWellKnown({})).resolve("nowhere.example")
    with pytest.raises(DiscoveryError):
        await resolver(FakeDns({}), FakeWellKnown({})).resolve("not a server name")


def test_srv_order_by_priority_then_weight() -> None:
    records = [
        SrvRecord(20, 0, 1, "c"),
        SrvRecord(10, 0, 1, "b"),
        SrvRecord(10, 100, 1, "a"),
        SrvRecord(5, 0, 1, "first"),
    ]
    for seed in range(20):
        ordered = [r.target for r in order_srv_records(records, random.Random(seed))]
        assert ordered[0] == "first" and ordered[-1] == "c"
        assert set(ordered[1:3]) == {"a", "b"}
    # Weight 100 against 0: the heavy record nearly always comes first.
    firsts = [order_srv_records(records[1:3], random.Random(s))[0].target for s in range(50)]
    assert firsts.count("a") >= 45


async def test_well_known_cache_rules() -> None:
    clock = Clock()
    fetcher = FakeWellKnown({"a.example": well_known("x.example"), "b.example": well_known("y.example", "public, max-age=600")})
    cache = WellKnownCache(fetcher, clock)
    assert await cache.delegated_server("a.example") == "x.example"
    clock.now += DEFAULT_CACHE_SECONDS - 1
    assert await cache.delegated_server("a.example") == "x.example"
    assert fetcher.fetches == ["a.example"]
    clock.now += 2
    await cache.delegated_server("a.example")
    assert fetcher.fetches == ["a.example", "a.example"]

    assert await cache.delegated_server("b.example") == "y.example"
    clock.now += 601
    await cache.delegated_server("b.example")
    assert fetcher.fetches.count("b.example") == 2

    # A max-age beyond 48 hours is capped.
    fetcher.answers["c.example"] = well_known("z.example", f"max-age={10 * MAX_CACHE_SECONDS}")
    await cache.delegated_server("c.example")
    clock.now += MAX_CACHE_SECONDS + 1
    await cache.delegated_server("c.example")
    assert fetcher.fetches.count("c.example") == 2

    # No file: cached for an hour.
    assert await cache.delegated_server("none.example") is None
    clock.now += INVALID_CACHE_SECONDS - 1
    await cache.delegated_server("none.example")
    assert fetcher.fetches.count("none.example") == 1


async def test_well_known_failures_back_off_exponentially() -> None:
    clock = Clock()
    fetcher = FakeWellKnown({"down.example": WellKnownUnreachable("timeout")})
    cache = WellKnownCache(fetcher, clock)
    for expected_backoff in (
        FIRST_FAILURE_BACKOFF_SECONDS,
        2 * FIRST_FAILURE_BACKOFF_SECONDS,
        4 * FIRST_FAILURE_BACKOFF_SECONDS,
    ):
        fetches = len(fetcher.fetches)
        assert await cache.delegated_server("down.example") is None
        assert len(fetcher.fetches) == fetches + 1
        clock.now += expected_backoff - 1
        await cache.delegated_server("down.example")
        assert len(fetcher.fetches) == fetches + 1
        clock.now += 1
