"""The results table: medians per server over the error-free runs, and Veche/Synapse."""

from __future__ import annotations

import statistics
from collections import defaultdict

from bench.runner import ServerRun

_RIVAL, _OURS = "synapse", "veche"


def _format(value: float) -> str:
    if value >= 100:
        return f"{value:.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.3g}"


def table(runs: list[ServerRun], servers: list[str]) -> str:
    """A Markdown table: one row per engine, scenario and figure."""
    values: dict[tuple[str, str, str], dict[str, list[float]]] = defaultdict(
        lambda: defaultdict(list)
    )
    failed: dict[tuple[str, str, str], int] = defaultdict(int)
    # Rows keep the order the scenarios ran in, and each scenario its figures' order.
    figures_of: dict[tuple[str, str], list[str]] = {}
    for run in runs:
        for outcome in run.outcomes:
            names = figures_of.setdefault((run.engine, outcome.scenario), [])
            if outcome.errors:
                # A scenario with errors in a run contributes no figures from that run.
                failed[(run.engine, outcome.scenario, run.server)] += 1
                continue
            for figure, value in outcome.figures.items():
                if figure not in names:
                    names.append(figure)
                values[(run.engine, outcome.scenario, figure)][run.server].append(value)
    order = [
        (engine, scenario, figure)
        for (engine, scenario), names in figures_of.items()
        for figure in names or ["(no figures)"]
    ]

    ratio = _RIVAL in servers and _OURS in servers
    header = ["engine", "scenario", "figure", *servers] + (["veche/synapse"] if ratio else [])
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for key in order:
        engine, scenario, _ = key
        cells, medians = [], {}
        for server in servers:
            samples = values.get(key, {}).get(server, [])
            errors = failed.get((engine, scenario, server), 0)
            cell = _format(statistics.median(samples)) if samples else "—"
            if samples:
                medians[server] = statistics.median(samples)
            if errors:
                cell += f" (errors in {errors} run{'s' if errors > 1 else ''})"
            cells.append(cell)
        row = [*key, *cells]
        if ratio:
            both = _RIVAL in medians and _OURS in medians and medians[_RIVAL]
            row.append(f"{medians[_OURS] / medians[_RIVAL]:.2f}" if both else "—")
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def error_summary(runs: list[ServerRun]) -> list[str]:
    lines = []
    for run in runs:
        for outcome in run.outcomes:
            if outcome.errors:
                lines.append(
                    f"{run.server}/{run.engine} run {run.run + 1} {outcome.scenario}:"
                    f" {outcome.errors} errors, e.g. {'; '.join(outcome.examples[:2])}"
                )
    return lines
