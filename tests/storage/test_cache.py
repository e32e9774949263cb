"""LruCache: bounded by entries, and by total weight when given a weigh function."""

from __future__ import annotations

import pytest

from veche.storage.cache import LruCache


def test_least_recently_used_entry_goes_first() -> None:
    cache: LruCache[str, int] = LruCache(2)
    cache.set("a", 1)
    cache.set("b", 2)
    assert cache.get("a") == 1
    cache.set("c", 3)
    assert "b" not in cache
    assert cache.get_many(["a", "b", "c"]) == ({"a": 1, "c": 3}, ["b"])


def test_weight_bounds_the_total() -> None:
    cache: LruCache[str, list[int]] = LruCache(100, max_weight=10, weigh=len)
    cache.set("a", [0] * 4)
    cache.set("b", [0] * 4)
    assert cache.weight == 8
    cache.set("c", [0] * 4)
    assert "a" not in cache and len(cache) == 2 and cache.weight == 8


def test_replacing_a_value_reweighs_it() -> None:
    cache: LruCache[str, list[int]] = LruCache(100, max_weight=10, weigh=len)
    cache.set("a", [0] * 2)
    cache.set("b", [0] * 2)
    cache.set("a", [0] * 7)
    assert cache.weight == 9 and len(cache) == 2
    cache.pop("b")
    assert cache.weight == 7
    cache.clear()
    assert cache.weight == 0 and len(cache) == 0


def test_an_oversized_value_is_kept_alone() -> None:
    cache: LruCache[str, list[int]] = LruCache(100, max_weight=10, weigh=len)
    cache.set("a", [0])
    cache.set("huge", [0] * 50)
    assert "a" not in cache and cache.get("huge") is not None
    cache.set("b", [0])
    assert "huge" not in cache and cache.weight == 1


def test_weight_needs_both_arguments() -> None:
    with pytest.raises(ValueError):
        LruCache(10, max_weight=5)


def test_a_full_cache_evicts_a_batch_of_the_oldest() -> None:
    cache: LruCache[int, int] = LruCache(64)
    for n in range(64):
        cache.set(n, n)
    assert cache.get(0) == 0  # used again: now the newest
    cache.set(64, 64)
    # Over the bound by one: that one and 1/32 of the bound more go, oldest first.
    assert len(cache) == 62
    assert 0 in cache and all(n not in cache for n in (1, 2, 3)) and 4 in cache


def test_weighed_eviction_leaves_room_below_both_bounds() -> None:
    cache: LruCache[int, list[int]] = LruCache(64, max_weight=640, weigh=len)
    for n in range(64):
        cache.set(n, [0] * 10)
    cache.set(64, [0] * 10)
    assert len(cache) == 62 and cache.weight == 620 and 0 not in cache and 64 in cache
