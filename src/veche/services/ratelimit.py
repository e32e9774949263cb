"""Token-bucket rate limiting per (action, key), where the key is a user ID or an address.

    hs.ratelimiter.check(RateLimits.MESSAGE, requester.user_id)

raises 429 M_LIMIT_EXCEEDED with `retry_after_ms` (client-server-api/_index.md, "Rate
limiting"); the HTTP edge adds the Retry-After header from it. A bucket holds `burst`
tokens and refills at `per_second`; each action costs one token. All of it is dictionary
arithmetic in memory: no I/O on the request path.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from veche.errors import MatrixError

# Buckets that have refilled completely are forgotten once this many exist.
_SWEEP_AT = 10_000


@dataclass(frozen=True, slots=True)
class RateLimit:
    action: str
    per_second: float
    burst: int


class RateLimits:
    """The limits Veche applies; the values follow Synapse's defaults, which clients expect."""

    REGISTRATION = RateLimit("register", 0.17, 3)
    # Looking up names or tokens during registration, cheap but enumerable.
    REGISTRATION_LOOKUP = RateLimit("register_lookup", 1.0, 10)
    LOGIN_ADDRESS = RateLimit("login_address", 0.17, 3)
    LOGIN_ACCOUNT = RateLimit("login_account", 0.17, 3)
    LOGIN_FAILED = RateLimit("login_failed", 0.17, 3)
    MESSAGE = RateLimit("message", 0.2, 10)
    JOIN_LOCAL = RateLimit("join_local", 0.1, 10)
    JOIN_REMOTE = RateLimit("join_remote", 0.01, 10)
    INVITE = RateLimit("invite", 0.3, 10)
    ROOM_CREATION = RateLimit("room_creation", 0.05, 10)
    PROFILE = RateLimit("profile", 1.0, 10)
    MEDIA_CREATE = RateLimit("media_create", 10.0, 50)
    # Notary key queries, per client address: a query for an unknown server makes us
    # fetch from it, so anyone could otherwise turn this server into a request amplifier.
    KEY_QUERY = RateLimit("key_query", 2.0, 20)


class RateLimiter:
    def __init__(self, enabled: bool, clock: Callable[[], float] = time.monotonic) -> None:
        self.enabled = enabled
        self._clock = clock
        # (action, key) → (tokens left, time they were counted, the limit)
        self._buckets: dict[tuple[str, str], tuple[float, float, RateLimit]] = {}
        # Keys never limited (users of application services registered with
        # `rate_limited: false`); None when there are none.
        self.exempt: Callable[[str], bool] | None = None

    def check(self, limit: RateLimit, key: str, *, consume: bool = True) -> None:
        """Spends one token of `key`'s bucket, or raises 429 if there is none.

        With `consume=False` only checks, for limits spent on an outcome (a failed login).
        """
        if not self.enabled or (self.exempt is not None and self.exempt(key)):
            return
        tokens, now = self._tokens(limit, key)
        if tokens < 1:
            wait_ms = math.ceil((1 - tokens) / limit.per_second * 1000)
            raise MatrixError(
                429, "M_LIMIT_EXCEEDED", "Too many requests", retry_after_ms=wait_ms
            )
        if consume:
            self._store(limit, key, tokens - 1, now)

    def record(self, limit: RateLimit, key: str) -> None:
        """Spends one token whether or not one is left (the outcome has happened already)."""
        if not self.enabled:
            return
        tokens, now = self._tokens(limit, key)
        self._store(limit, key, max(tokens - 1, 0.0), now)

    def _tokens(self, limit: RateLimit, key: str) -> tuple[float, float]:
        now = self._clock()
        tokens, then, _ = self._buckets.get((limit.action, key), (float(limit.burst), now, limit))
        return min(float(limit.burst), tokens + (now - then) * limit.per_second), now

    def _store(self, limit: RateLimit, key: str, tokens: float, now: float) -> None:
        self._buckets[(limit.action, key)] = (tokens, now, limit)
        if len(self._buckets) > _SWEEP_AT:
            self._sweep(now)

    def _sweep(self, now: float) -> None:
        # A full bucket is the same as no bucket, so it can go.
        self._buckets = {
            k: bucket
            for k, bucket in self._buckets.items()
            if bucket[0] + (now - bucket[1]) * bucket[2].per_second < bucket[2].burst
        }


@dataclass(frozen=True, slots=True)
class FederationLimits:
    """Per-origin bounds on inbound federation requests (the `federation_limits`
    setting; services/federation/origin_limits.py applies them)."""

    per_second: float = 50.0
    burst: int = 500
    expensive_per_second: float = 10.0
    expensive_burst: int = 100
    concurrent: int = 10
    expensive_concurrent: int = 3
    queued: int = 100


FEDERATION_LIMIT_KEYS = tuple(FederationLimits.__dataclass_fields__)
