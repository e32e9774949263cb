"""The token-bucket rate limiter, on a fake clock."""

from __future__ import annotations

import pytest

from veche.errors import MatrixError
from veche.services.ratelimit import RateLimit, RateLimiter

LIMIT = RateLimit("test", per_second=0.5, burst=2)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_burst_then_refill() -> None:
    clock = Clock()
    limiter = RateLimiter(True, clock)
    limiter.check(LIMIT, "a")
    limiter.check(LIMIT, "a")
    with pytest.raises(MatrixError) as caught:
        limiter.check(LIMIT, "a")
    assert caught.value.status == 429 and caught.value.errcode == "M_LIMIT_EXCEEDED"
    assert caught.value.extra["retry_after_ms"] == 2000
    limiter.check(LIMIT, "b")  # other keys have their own bucket
    clock.now += 2
    limiter.check(LIMIT, "a")
    with pytest.raises(MatrixError):
        limiter.check(LIMIT, "a")


def test_check_without_consuming_and_record() -> None:
    clock = Clock()
    limiter = RateLimiter(True, clock)
    for _ in range(5):
        limiter.check(LIMIT, "a", consume=False)
    limiter.record(LIMIT, "a")
    limiter.record(LIMIT, "a")
    limiter.record(LIMIT, "a")  # never below empty
    with pytest.raises(MatrixError):
        limiter.check(LIMIT, "a", consume=False)
    clock.now += 2
    limiter.check(LIMIT, "a", consume=False)


def test_disabled_never_limits() -> None:
    limiter = RateLimiter(False, Clock())
    for _ in range(100):
        limiter.check(LIMIT, "a")


def test_exempt_keys_are_never_limited() -> None:
    limiter = RateLimiter(True, Clock())
    limiter.exempt = lambda key: key.startswith("@bridge_")
    for _ in range(10):
        limiter.check(LIMIT, "@bridge_x:hs")
    limiter.check(LIMIT, "@alice:hs")
    limiter.check(LIMIT, "@alice:hs")
    with pytest.raises(MatrixError):
        limiter.check(LIMIT, "@alice:hs")
