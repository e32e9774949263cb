"""The allocator settings and the idle heap trimmer."""

from __future__ import annotations

import asyncio
import ctypes.util
import gc
import weakref
from concurrent.futures import ThreadPoolExecutor

import pytest

from veche import memory


def _pss_kib() -> int:
    with open("/proc/self/smaps_rollup") as f:
        for line in f:
            if line.startswith("Pss:"):
                return int(line.split()[1])
    raise AssertionError("no Pss line")


@pytest.mark.skipif(memory._LIBC is None or ctypes.util.find_library("c") is None, reason="glibc only")
def test_big_blocks_freed_by_threads_go_back_at_once() -> None:
    memory.tune_allocator()
    size = 24 << 20

    def touch_and_free() -> None:
        block = ctypes.create_string_buffer(size)
        ctypes.memset(block, 1, size)
        del block

    with ThreadPoolExecutor(2) as pool:
        list(pool.map(lambda _: touch_and_free(), range(4)))
        before = _pss_kib()
        list(pool.map(lambda _: touch_and_free(), range(4)))
    # Each round mmaps and unmaps its blocks: nothing of them stays resident.
    assert _pss_kib() - before < size // 1024 // 2


async def test_trims_once_after_a_busy_period_and_never_while_busy() -> None:
    cpu = 0.0
    busy = False
    trims: list[float] = []

    def cpu_clock() -> float:
        # While busy, every look finds a second of CPU used since the last one.
        nonlocal cpu
        if busy:
            cpu += 1.0
        return cpu

    trimmer = memory.IdleTrimmer(
        check_seconds=0.01, idle_share=0.5, cpu_clock=cpu_clock, trim_heap=lambda: trims.append(cpu)
    )
    trimmer.start()
    await asyncio.sleep(0.05)
    assert trims == [0.0]  # what start-up left, once
    busy = True
    await asyncio.sleep(0.05)
    assert trims == [0.0]
    busy = False
    await asyncio.sleep(0.05)
    await trimmer.stop()
    assert len(trims) == 2 and trims[1] > 0


def test_collector_tuned_for_a_long_running_server() -> None:
    threshold = gc.get_threshold()
    built_at_start = [object() for _ in range(3)]
    container = {"kept": built_at_start}
    try:
        memory.tune_collector()
        assert gc.get_threshold() == (memory.YOUNG_COLLECTION_ALLOCATIONS, *threshold[1:])
        # What existed then is out of every later pass; cyclic garbage made later is
        # still collected.
        assert gc.get_freeze_count() > 0
        assert not any(o is container for o in gc.get_objects())
        cycle: list[object] = []
        cycle.append(cycle)
        probe = weakref.ref(_Cell(cycle))
        del cycle
        gc.collect()
        assert probe() is None
    finally:
        gc.unfreeze()
        gc.set_threshold(*threshold)


class _Cell:
    def __init__(self, value: object) -> None:
        self.value = value
        self.me = self
