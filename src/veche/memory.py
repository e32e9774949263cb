"""The process's heap: glibc malloc settings for a server, and handing freed memory back.

Two things make a long-running Veche hold far more memory than it uses:
- glibc raises its mmap threshold to the size of the largest block freed so far (up to
  32 MiB). After the first argon2 hash frees its 19 MiB buffer, every later one is carved
  from the hashing thread's own arena instead of mmapped, and stays resident when freed:
  about 19 MiB per hashing thread for the life of the process. A fixed threshold keeps
  such blocks mmapped and returned at once.
- Memory freed after a burst (request bodies, query results, evicted cache entries) stays
  in malloc's free lists. `IdleTrimmer` calls malloc_trim once the process has gone quiet,
  giving whole free pages back; it never runs while the server is busy, so hot paths do
  not pay for pages faulted back in.

Elsewhere than glibc (musl, macOS) both are no-ops.

The cyclic garbage collector is tuned too (`tune_collector`): its full passes walk the
whole heap, caches included, so they are made rarer and leave out what start-up built.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import gc
import logging
import time
from collections.abc import Callable

logger = logging.getLogger(__name__)

# Blocks this large or larger are always mmapped (and unmapped when freed). Well above
# what a request or a query result needs, well below argon2's buffer.
MMAP_THRESHOLD_BYTES = 1 << 20
_M_MMAP_THRESHOLD = -3  # from glibc's malloc.h
# glibc gives threads arenas of their own (up to 8 per core), each keeping its own free
# memory; the database and hashing threads allocate little, so two arenas suffice.
MAX_ARENAS = 2
_M_ARENA_MAX = -8

# The trimmer looks every this many seconds and trims once a look finds the process has
# used less than IDLE_CPU_SHARE of one CPU since the previous look.
TRIM_CHECK_SECONDS = 5.0
IDLE_CPU_SHARE = 0.05

# Container allocations (net of frees) between young garbage collections (CPython: 700).
YOUNG_COLLECTION_ALLOCATIONS = 50_000


def _glibc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        libc = ctypes.CDLL(name)
        libc.mallopt, libc.malloc_trim  # noqa: B018 - both exist only in glibc
    except (OSError, AttributeError):
        return None
    return libc


_LIBC = _glibc()


def tune_allocator() -> None:
    """Fix malloc's mmap threshold and arena count; call once at start, before worker
    threads exist."""
    if _LIBC is None:
        return
    if not _LIBC.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES):
        logger.warning("mallopt(M_MMAP_THRESHOLD) failed; memory may stay high after logins")
    if not _LIBC.mallopt(_M_ARENA_MAX, MAX_ARENAS):
        logger.warning("mallopt(M_ARENA_MAX) failed; threads keep arenas of their own")


def tune_collector() -> None:
    """Make the cyclic garbage collector's full passes rarer and shorter; call once the
    server has started.

    A full pass walks every tracked object, caches included, and fires when the heap has
    grown by a quarter: a request that fills caches (an initial sync reading thousands of
    events) paid ~0.1 s for one. Young passes now wait for YOUNG_COLLECTION_ALLOCATIONS
    container allocations instead of 700 (older passes follow every ten of them, as
    before), and what start-up built (modules, classes, configuration) is moved out of
    every later pass, since it lives as long as the process.
    """
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_COLLECTION_ALLOCATIONS, older, oldest)


def trim() -> None:
    """Give free heap pages back to the system."""
    if _LIBC is not None:
        _LIBC.malloc_trim(0)


class IdleTrimmer:
    """Trims the heap once after each busy period, when the process has gone quiet.

    `cpu_clock` (the process's CPU seconds) and `trim_heap` are replaceable for tests.
    """

    def __init__(
        self,
        check_seconds: float = TRIM_CHECK_SECONDS,
        idle_share: float = IDLE_CPU_SHARE,
        *,
        cpu_clock: Callable[[], float] = time.process_time,
        trim_heap: Callable[[], None] = trim,
    ) -> None:
        self._check_seconds = check_seconds
        self._idle_share = idle_share
        self._cpu_clock = cpu_clock
        self._trim_heap = trim_heap
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None

    async def _run(self) -> None:
        busy_since_trim = True  # whatever start-up left behind
        last_cpu = self._cpu_clock()
        while True:
            await asyncio.sleep(self._check_seconds)
            cpu = self._cpu_clock()
            idle = cpu - last_cpu < self._idle_share * self._check_seconds
            last_cpu = cpu
            if not idle:
                busy_since_trim = True
            elif busy_since_trim:
                self._trim_heap()
                busy_since_trim = False
                last_cpu = self._cpu_clock()
