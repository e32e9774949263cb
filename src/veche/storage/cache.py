"""A small least-recently-used cache for immutable values.

It holds at most `max_size` entries and, given a `weigh` function, at most `max_weight`
in total of what `weigh` says each value costs (state entries, say), so a few huge values
cannot take as much memory as `max_size` ordinary ones.

The recency order is a plain dict's insertion order (a hit moves the entry to the end), not
an OrderedDict's linked list: 21 bytes an entry instead of 66, for as fast a hit. Evicting
from the front of a dict walks over the slots freed by earlier evictions until the dict
is next compacted, so a full cache evicts a batch (1/EVICTION_BATCH of its bound) at once
rather than one entry per insertion.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from itertools import islice
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")

EVICTION_BATCH = 32


class LruCache(Generic[K, V]):
    def __init__(
        self,
        max_size: int,
        *,
        max_weight: int | None = None,
        weigh: Callable[[V], int] | None = None,
    ) -> None:
        if (max_weight is None) != (weigh is None):
            raise ValueError("max_weight and weigh go together")
        self._max_size = max_size
        self._data: dict[K, V] = {}
        self._max_weight = max_weight
        self._weigh = weigh
        self._weights: dict[K, int] = {}
        self._weight = 0

    def __len__(self) -> int:
        return len(self._data)

    def __contains__(self, key: K) -> bool:
        return key in self._data

    @property
    def weight(self) -> int:
        """The total weight of the values held (0 without a `weigh` function)."""
        return self._weight

    def get(self, key: K) -> V | None:
        data = self._data
        try:
            value = data.pop(key)
        except KeyError:
            return None
        data[key] = value
        return value

    def get_many(self, keys: Iterable[K]) -> tuple[dict[K, V], list[K]]:
        """The cached values, and the keys that missed."""
        found: dict[K, V] = {}
        missing: list[K] = []
        for key in keys:
            value = self.get(key)
            if value is None:
                missing.append(key)
            else:
                found[key] = value
        return found, missing

    def set(self, key: K, value: V) -> None:
        data = self._data
        data.pop(key, None)
        data[key] = value
        if self._weigh is None:
            if len(data) > self._max_size:
                excess = len(data) - self._max_size + self._max_size // EVICTION_BATCH
                for oldest in list(islice(data, excess)):
                    del data[oldest]
            return
        weight = self._weigh(value)
        self._weight += weight - self._weights.get(key, 0)
        self._weights[key] = weight
        assert self._max_weight is not None
        if len(data) > self._max_size or self._weight > self._max_weight:
            self._evict_weighed(
                self._max_size - self._max_size // EVICTION_BATCH,
                self._max_weight - self._max_weight // EVICTION_BATCH,
            )

    def _evict_weighed(self, size: int, weight: int) -> None:
        """Evict the oldest entries until at most `size` of them weighing at most `weight`
        are left; the newest stays even if it alone is over: its caller uses it now."""
        data, weights = self._data, self._weights
        doomed = []
        left, left_weight = len(data), self._weight
        for oldest in data:
            if left <= 1 or (left <= size and left_weight <= weight):
                break
            doomed.append(oldest)
            left -= 1
            left_weight -= weights[oldest]
        for oldest in doomed:
            del data[oldest]
            del weights[oldest]
        self._weight = left_weight

    def pop(self, key: K) -> None:
        if self._data.pop(key, None) is not None and self._weigh is not None:
            self._weight -= self._weights.pop(key)

    def clear(self) -> None:
        self._data.clear()
        self._weights.clear()
        self._weight = 0


@dataclass(frozen=True, slots=True)
class CacheSizes:
    """Bounds of the in-memory caches (the `caches` setting of the config); each is a count of entries.

    Defaults suit a server of a few thousand users on about 100 MB; docs/benchmarks.md
    ("Memory") says what they cost. Every cache refills from the database, so smaller
    bounds cost queries, never correctness.
    """

    events: int = 5_000  # events by ID, kept as their JSON
    parsed_events: int = 1_000  # of those, the most recently used kept parsed as well
    state_snapshots: int = 2_000  # full room states at some event, by snapshot
    current_states: int = 5_000  # rooms' current state
    # Each of the two state caches holds at most this many state entries in all (a
    # 1,000-member room's state has about 1,000), so big rooms cannot fill them at full count.
    state_entries: int = 50_000
    event_snapshots: int = 20_000  # event ID → the snapshot after it
    interned_ids: int = 20_000  # per kind of ID (events, users, state keys), each direction
    room_tails: int = 5_000  # rooms whose newest events are kept for /sync
    memberships: int = 5_000  # users whose room memberships are kept


CACHE_SIZE_KEYS = tuple(CacheSizes.__dataclass_fields__)
