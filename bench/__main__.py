"""`python -m bench`: run the scenarios against Synapse and Veche, alternating, and print a table."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import platform
import sys
import time
from pathlib import Path

from bench.report import error_summary, table
from bench.runner import ServerRun, run_server
from bench.scenarios import FULL, SMOKE
from bench.servers import (
    DEFAULT_WORKDIR,
    Server,
    SynapseServer,
    VecheServer,
    install_synapse,
    synapse_version,
)

KNOWN_SERVERS = ("veche", "synapse")


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--servers", help="comma-separated: veche,synapse"
                        " (default: both; with --smoke: veche)")
    parser.add_argument("--engine", choices=("sqlite", "postgres", "both"), default="sqlite")
    parser.add_argument("--runs", type=int, default=3, help="alternating runs per server")
    parser.add_argument("--smoke", action="store_true",
                        help="a few requests per scenario, one run; exit 1 on any error")
    parser.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR,
                        help="Synapse's venv and the servers' data (outside the source tree)")
    parser.add_argument("--synapse-version", help="pin matrix-synapse to this version")
    parser.add_argument("--idle-wait", type=float, default=10.0,
                        help="seconds to let a server settle before its idle memory is read")
    parser.add_argument("--json", type=Path, help="also write every raw figure to this file")
    args = parser.parse_args(argv)
    default = "veche" if args.smoke else ",".join(KNOWN_SERVERS)
    args.servers = [s.strip() for s in (args.servers or default).split(",") if s.strip()]
    unknown = set(args.servers) - set(KNOWN_SERVERS)
    if unknown or not args.servers:
        parser.error(f"unknown servers: {', '.join(sorted(unknown)) or '(none)'}")
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    if args.smoke:
        args.runs, args.idle_wait = 1, min(args.idle_wait, 1.0)
    return args


def _make_server(name: str, engine: str, args: argparse.Namespace) -> Server:
    if name == "synapse":
        python = install_synapse(args.workdir, args.synapse_version)
        return SynapseServer(name, engine, args.workdir, python=python)
    return VecheServer(name, engine, args.workdir)


async def _run(args: argparse.Namespace) -> list[ServerRun]:
    engines = ["sqlite", "postgres"] if args.engine == "both" else [args.engine]
    sizes = SMOKE if args.smoke else FULL
    results = []
    for engine in engines:
        servers = [_make_server(name, engine, args) for name in args.servers]
        for run in range(args.runs):
            # Alternate the order so neither server always runs on a warmer machine.
            for server in servers if run % 2 == 0 else reversed(servers):
                print(f"{server.name} on {engine}, run {run + 1} of {args.runs}", flush=True)
                results.append(await run_server(server, sizes, run, args.idle_wait))
                if args.json:
                    # Rewritten after every server run so a long run's figures survive a stop.
                    _write_json(args.json, args.description, results)
    return results


def _write_json(path: Path, description: str, runs: list[ServerRun]) -> None:
    path.write_text(json.dumps(
        {"description": description, "runs": [dataclasses.asdict(r) for r in runs]}, indent=1
    ))


def _describe(args: argparse.Namespace) -> str:
    versions = []
    if "synapse" in args.servers:
        python = install_synapse(args.workdir, args.synapse_version)
        versions.append(f"Synapse {synapse_version(python)}")
    if "veche" in args.servers:
        versions.append("Veche (this checkout)")
    return (f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; {', '.join(versions)};"
            f" Python {platform.python_version()}; {platform.machine()},"
            f" {_cpu_model()}, {_cpu_count()} CPUs")


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def _cpu_count() -> int:
    return len(os.sched_getaffinity(0))


def main(argv: list[str] | None = None) -> int:
    args = _parse(sys.argv[1:] if argv is None else argv)
    if "veche" in args.servers and not VecheServer("veche", "", args.workdir).executable.exists():
        print("Veche is not installed in .venv (run `make install`)", file=sys.stderr)
        return 2
    args.description = _describe(args)
    runs = asyncio.run(_run(args))
    print()
    print(args.description)
    print()
    print(table(runs, args.servers))
    errors = error_summary(runs)
    if errors:
        print("\nScenarios with errors (their figures are not used):")
        print("\n".join(f"- {line}" for line in errors))
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
