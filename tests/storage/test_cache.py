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
