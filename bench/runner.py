"""One server run: start a fresh server, run every scenario, sample memory, stop it."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from bench.client import ErrorLog
from bench.procstat import PeakSampler, find_postmaster, tree_usage
from bench.push import push_evaluation
from bench.scenarios import SCENARIOS, Context, Scenario, ScenarioAborted, Sizes
from bench.servers import Server

SCENARIO_TIMEOUT = 600.0
MEMORY = "memory"
_MB = 1024 * 1024


@dataclass
class Outcome:
    scenario: str
    figures: dict[str, float]
    errors: int = 0
    examples: list[str] = field(default_factory=list)


@dataclass
class ServerRun:
    server: str
    engine: str
    run: int
    outcomes: list[Outcome]

    @property
    def errors(self) -> int:
        return sum(o.errors for o in self.outcomes)


def _cpu_probe(server_pid: int, postmaster: int | None) -> dict[str, float]:
    probe = {"server": tree_usage(server_pid).cpu_seconds}
    if postmaster is not None:
        probe["postgres"] = tree_usage(postmaster).cpu_seconds
    return probe


async def _run_scenario(ctx: Context, name: str, scenario: Scenario) -> Outcome:
    ctx.errors = ErrorLog()
    ctx.cpu_seconds = {}
    try:
        figures = await asyncio.wait_for(scenario(ctx), timeout=SCENARIO_TIMEOUT)
    except TimeoutError:
        ctx.errors.record(name, f"did not finish within {SCENARIO_TIMEOUT:.0f}s")
        figures = {}
    except ScenarioAborted as exc:
        ctx.errors.record(name, f"aborted: {exc}")
        figures = {}
    if not figures and not ctx.errors.total:
        ctx.errors.record(name, "produced no figures")
    for process, seconds in ctx.cpu_seconds.items():
        figures[f"CPU s ({process})"] = seconds
    return Outcome(name, figures, ctx.errors.total, list(ctx.errors.examples))


async def run_server(
    server: Server, sizes: Sizes, run: int, idle_wait: float, log: bool = True
) -> ServerRun:
    """Run every scenario against a freshly started `server`; always stops it."""
    await server.start()
    try:
        postmaster = find_postmaster() if server.engine == "postgres" else None
        samplers = {"server": PeakSampler(server.pid)}
        if postmaster is not None:
            samplers["postgres"] = PeakSampler(postmaster)
        for sampler in samplers.values():
            sampler.start()
        ctx = Context(
            server.base_url, sizes, cpu_probe=lambda: _cpu_probe(server.pid, postmaster)
        )
        outcomes = []
        for name, scenario in [*SCENARIOS, ("push evaluation", push_evaluation)]:
            outcome = await _run_scenario(ctx, name, scenario)
            outcomes.append(outcome)
            if log:
                status = f"{outcome.errors} errors" if outcome.errors else "ok"
                print(f"  [{server.name}/{server.engine} run {run + 1}] {name}: {status}",
                      flush=True)
                for example in outcome.examples:
                    print(f"      {example}", flush=True)
        for sampler in samplers.values():
            await sampler.stop()
        # Idle memory: after the load, once the server has had time to settle.
        await asyncio.sleep(idle_wait)
        memory = {}
        for process, sampler in samplers.items():
            root = server.pid if process == "server" else postmaster
            assert root is not None
            idle = (await asyncio.to_thread(tree_usage, root)).memory_bytes
            memory[f"peak MB ({process})"] = sampler.peak_bytes / _MB
            memory[f"idle MB ({process})"] = idle / _MB
        outcomes.append(Outcome(MEMORY, memory))
        return ServerRun(server.name, server.engine, run, outcomes)
    finally:
        await server.stop()
