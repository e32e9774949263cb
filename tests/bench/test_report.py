"""The harness's own arithmetic and table, without any server."""

import asyncio

from bench.report import table
from bench.runner import Outcome, ServerRun
from bench.scenarios import gather_limited, percentile


def test_percentile_is_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 0.5) == 50.0
    assert percentile(values, 0.99) == 99.0
    assert percentile([7.0], 0.99) == 7.0


async def test_gather_limited_keeps_order_and_bounds_concurrency() -> None:
    in_flight = peak = 0

    async def call(i: int) -> int:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0.001 * (5 - i % 5))
        in_flight -= 1
        return i

    results = await gather_limited([lambda i=i: call(i) for i in range(20)], 3)
    assert results == list(range(20))
    assert peak == 3


def _run(server: str, run: int, value: float, errors: int = 0) -> ServerRun:
    outcome = Outcome("send", {"events/s": value}, errors=errors)
    return ServerRun(server, "sqlite", run, [outcome])


def test_table_uses_medians_of_clean_runs_and_the_ratio() -> None:
    runs = [
        _run("synapse", 0, 100.0), _run("veche", 0, 300.0),
        _run("synapse", 1, 120.0), _run("veche", 1, 9999.0, errors=2),
        _run("synapse", 2, 110.0), _run("veche", 2, 330.0),
    ]
    text = table(runs, ["veche", "synapse"])
    row = next(line for line in text.splitlines() if "events/s" in line)
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells == ["sqlite", "send", "events/s", "315 (errors in 1 run)", "110", "2.86"]


def test_table_marks_a_scenario_that_only_failed() -> None:
    runs = [_run("veche", 0, 1.0, errors=1)]
    text = table(runs, ["veche"])
    assert "| sqlite | send | (no figures) | — (errors in 1 run) |" in text
