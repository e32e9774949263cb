"""`OriginLimiter`: per-origin buckets and slots, with a fake clock."""

from __future__ import annotations

import asyncio

import pytest

from veche.errors import MatrixError
from veche.services.federation.origin_limits import OriginLimiter, RequestKind
from veche.services.ratelimit import FederationLimits


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def admit(limiter: OriginLimiter, origin: str, kind: RequestKind = RequestKind.QUERY) -> None:
    async with limiter.admit(origin, kind):
        pass


async def test_buckets_are_per_origin_and_refill() -> None:
    clock = Clock()
    limiter = OriginLimiter(FederationLimits(per_second=1.0, burst=2), enabled=True, clock=clock)
    await admit(limiter, "a.example")
    await admit(limiter, "a.example")
    with pytest.raises(MatrixError) as refused:
        await admit(limiter, "a.example")
    assert refused.value.status == 429 and refused.value.errcode == "M_LIMIT_EXCEEDED"
    await admit(limiter, "b.example")
    clock.now = 1.0
    await admit(limiter, "a.example")


async def test_a_refused_expensive_request_costs_no_general_token() -> None:
    limiter = OriginLimiter(
        FederationLimits(burst=2, expensive_burst=1), enabled=True, clock=Clock()
    )
    await admit(limiter, "a.example", RequestKind.EXPENSIVE)
    with pytest.raises(MatrixError):
        await admit(limiter, "a.example", RequestKind.EXPENSIVE)
    await admit(limiter, "a.example")
    with pytest.raises(MatrixError):
        await admit(limiter, "a.example")


async def test_transactions_take_slots_but_no_tokens() -> None:
    limiter = OriginLimiter(FederationLimits(burst=1), enabled=True, clock=Clock())
    for _ in range(5):
        await admit(limiter, "a.example", RequestKind.TRANSACTION)
    await admit(limiter, "a.example")


async def test_requests_beyond_the_slots_wait_and_beyond_the_queue_are_refused() -> None:
    limiter = OriginLimiter(FederationLimits(concurrent=1, queued=1), enabled=True, clock=Clock())
    release = asyncio.Event()
    order: list[str] = []

    async def hold(name: str) -> None:
        async with limiter.admit("a.example", RequestKind.QUERY):
            order.append(name)
            await release.wait()

    first = asyncio.create_task(hold("first"))
    await asyncio.sleep(0)
    waiting = asyncio.create_task(hold("waiting"))
    await asyncio.sleep(0)
    assert order == ["first"]
    with pytest.raises(MatrixError) as refused:
        await admit(limiter, "a.example")
    assert refused.value.status == 429
    await admit(limiter, "b.example")
    release.set()
    await asyncio.gather(first, waiting)
    assert order == ["first", "waiting"]
    await admit(limiter, "a.example")


async def test_off_admits_everything() -> None:
    limiter = OriginLimiter(FederationLimits(burst=1, concurrent=1, queued=0), enabled=False)
    for _ in range(5):
        await admit(limiter, "a.example", RequestKind.EXPENSIVE)
