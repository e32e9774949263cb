"""Memory and CPU of process trees, read from /proc (Linux only).

Memory is the proportional set size (Pss from smaps_rollup), summed over a tree:
a multi-process server such as PostgreSQL shares its buffers between processes,
and summing plain RSS would count them once per process. Where smaps_rollup is
not readable the resident set size (VmRSS) is used instead.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass, field
from pathlib import Path

_CLK_TCK = os.sysconf("SC_CLK_TCK")
_PROC = Path("/proc")


@dataclass(frozen=True)
class _Stat:
    pid: int
    ppid: int
    comm: str
    cpu_ticks: int
    reaped_child_ticks: int


def _read_stat(pid: int) -> _Stat | None:
    try:
        raw = (_PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    # comm is parenthesised and may contain spaces or parentheses itself.
    close = raw.rindex(")")
    comm = raw[raw.index("(") + 1 : close]
    fields = raw[close + 2 :].split()
    # fields[0] is field 3 (state) of proc(5); utime, stime, cutime, cstime are 14-17.
    return _Stat(
        pid=pid,
        ppid=int(fields[1]),
        comm=comm,
        cpu_ticks=int(fields[11]) + int(fields[12]),
        reaped_child_ticks=int(fields[13]) + int(fields[14]),
    )


def _all_stats() -> dict[int, _Stat]:
    stats = {}
    for entry in _PROC.iterdir():
        if entry.name.isdigit():
            stat = _read_stat(int(entry.name))
            if stat is not None:
                stats[stat.pid] = stat
    return stats


def _tree(root: int, stats: dict[int, _Stat]) -> list[_Stat]:
    children: dict[int, list[int]] = {}
    for stat in stats.values():
        children.setdefault(stat.ppid, []).append(stat.pid)
    found, pending = [], [root]
    while pending:
        pid = pending.pop()
        if pid in stats:
            found.append(stats[pid])
            pending.extend(children.get(pid, []))
    return found


def _memory_bytes(pid: int) -> int:
    try:
        text = (_PROC / str(pid) / "smaps_rollup").read_text()
        key = "Pss:"
    except OSError:
        try:
            text = (_PROC / str(pid) / "status").read_text()
        except OSError:
            return 0
        key = "VmRSS:"
    for line in text.splitlines():
        if line.startswith(key):
            return int(line.split()[1]) * 1024
    return 0


@dataclass(frozen=True)
class Usage:
    memory_bytes: int
    cpu_seconds: float


def tree_usage(root: int) -> Usage:
    """Memory and CPU time (live processes plus children they reaped) of root's tree."""
    tree = _tree(root, _all_stats())
    ticks = sum(s.cpu_ticks for s in tree)
    if tree:
        ticks += tree[0].reaped_child_ticks
    return Usage(
        memory_bytes=sum(_memory_bytes(s.pid) for s in tree),
        cpu_seconds=ticks / _CLK_TCK,
    )


def find_postmaster() -> int | None:
    """The PostgreSQL postmaster on this machine: a `postgres` whose parent is not one."""
    stats = _all_stats()
    for stat in stats.values():
        parent = stats.get(stat.ppid)
        if stat.comm == "postgres" and (parent is None or parent.comm != "postgres"):
            return stat.pid
    return None


@dataclass
class PeakSampler:
    """Samples the memory of a process tree in the background and keeps the peak."""

    root: int
    interval: float = 0.25
    peak_bytes: int = 0
    _task: asyncio.Task[None] | None = field(default=None, repr=False)

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while True:
            usage = await asyncio.to_thread(tree_usage, self.root)
            self.peak_bytes = max(self.peak_bytes, usage.memory_bytes)
            await asyncio.sleep(self.interval)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
