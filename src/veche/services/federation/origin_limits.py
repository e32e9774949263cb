"""Limits on what one origin server may ask of this one at a time (issue 6: a hostile peer
must not be able to starve the others or exhaust the server).

Every authenticated federation request is admitted for its origin before its handler does
any work:

    async with limiter.admit(origin, RequestKind.EXPENSIVE):
        ...

- a token bucket per origin for all requests but transactions (PUT /send), and a second,
  smaller one for the expensive kinds (backfill, state, state_ids, event_auth,
  get_missing_events, send_join, one-time key claims, media downloads);
- at most `concurrent` requests of an origin in flight (of them at most
  `expensive_concurrent` expensive ones); up to `queued` more wait for a slot.

Beyond either the answer is 429 M_LIMIT_EXCEEDED with `retry_after_ms`. Transactions are
not rate limited, like Synapse: a peer sends them one at a time and each waits for the one
before (`TransactionHandler` serialises them per origin), so they only take slots.
The defaults are far above what a normal peer asks (Synapse itself runs at most three of
a peer's requests at once), so only a flood meets them. Nothing here does I/O.
"""

from __future__ import annotations

import asyncio
import enum
import time
from collections.abc import AsyncIterator, Callable, Hashable
from contextlib import asynccontextmanager

from veche.errors import MatrixError
from veche.services.ratelimit import FederationLimits, RateLimit, RateLimiter

# What a peer is told to wait when all its slots and queue places are taken.
_BUSY_RETRY_MS = 500


class RequestKind(enum.Enum):
    TRANSACTION = "transaction"  # PUT /send: slots only, no rate
    QUERY = "query"  # anything cheap: one event, a profile, make_join, ...
    EXPENSIVE = "expensive"  # reads or writes that scale with a room's size or history


class _Slots:
    """`limit` holders at a time, and no more than `limit + queued` holding or waiting."""

    def __init__(self, limit: int) -> None:
        self.semaphore = asyncio.Semaphore(limit)
        self.users = 0


class OriginLimiter:
    def __init__(
        self, limits: FederationLimits, *, enabled: bool, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.enabled = enabled
        self._limits = limits
        self._rates = RateLimiter(enabled, clock)
        self._any = RateLimit("federation", limits.per_second, limits.burst)
        self._expensive = RateLimit("federation_expensive", limits.expensive_per_second, limits.expensive_burst)
        self._slots: dict[Hashable, _Slots] = {}

    @asynccontextmanager
    async def admit(self, origin: str, kind: RequestKind) -> AsyncIterator[None]:
        """Holds one of `origin`'s slots (waiting for it if need be) while the request runs;
        raises 429 if the origin is over its rate or has too many requests waiting."""
        if not self.enabled:
            yield
            return
        self._spend(origin, kind)
        async with self._slot(origin, self._limits.concurrent):
            if kind is RequestKind.EXPENSIVE:
                async with self._slot((origin, kind), self._limits.expensive_concurrent):
                    yield
            else:
                yield

    def _spend(self, origin: str, kind: RequestKind) -> None:
        if kind is RequestKind.TRANSACTION:
            return
        if kind is RequestKind.EXPENSIVE:
            # Checked first so that a refused expensive request costs no general token.
            self._rates.check(self._expensive, origin, consume=False)
        self._rates.check(self._any, origin)
        if kind is RequestKind.EXPENSIVE:
            self._rates.record(self._expensive, origin)

    @asynccontextmanager
    async def _slot(self, key: Hashable, limit: int) -> AsyncIterator[None]:
        slots = self._slots.get(key)
        if slots is None:
            slots = self._slots[key] = _Slots(limit)
        if slots.users >= limit + self._limits.queued:
            raise MatrixError(
                429, "M_LIMIT_EXCEEDED", "Too many concurrent requests", retry_after_ms=_BUSY_RETRY_MS
            )
        slots.users += 1
        try:
            async with slots.semaphore:
                yield
        finally:
            slots.users -= 1
            if slots.users == 0:
                del self._slots[key]
