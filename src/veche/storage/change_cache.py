"""Which keys (users, rooms) changed on a stream after a position, answered from memory.

An incremental /sync usually finds nothing new for its user; this cache lets it say so
without a query. It remembers the latest position at which each key changed, for changes
made since `earliest`; for an older position it cannot tell and answers "maybe".
Entries are fed by stream position, so a cache in another process stays correct when it
is fed the same positions.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)


class StreamChangeCache(Generic[K]):
    def __init__(self, earliest: int, max_size: int = 100_000) -> None:
        self._earliest = earliest
        self._last_change: dict[K, int] = {}
        self._max_size = max_size

    def record(self, key: K, position: int) -> None:
        if position > self._last_change.get(key, 0):
            self._last_change[key] = position
        if len(self._last_change) > self._max_size:
            self._forget_oldest_half()

    def may_have_changed(self, key: K, since: int) -> bool:
        """False only when `key` certainly did not change after `since`."""
        if since < self._earliest:
            return True
        return self._last_change.get(key, 0) > since

    def changed_among(self, keys: Iterable[K], since: int) -> list[K]:
        """The keys of `keys` that may have changed after `since`."""
        return [key for key in keys if self.may_have_changed(key, since)]

    def changed_since(self, since: int) -> set[K] | None:
        """Every key that changed after `since`, or None when the cache cannot tell."""
        if since < self._earliest:
            return None
        return {key for key, position in self._last_change.items() if position > since}

    def _forget_oldest_half(self) -> None:
        positions = sorted(self._last_change.values())
        cutoff = positions[len(positions) // 2]
        self._last_change = {k: p for k, p in self._last_change.items() if p > cutoff}
        # Keys whose changes were forgotten must read as "maybe changed" from now on.
        self._earliest = max(self._earliest, cutoff)
