"""The human summary: a rich table per run, and a progress bar while it runs."""

from __future__ import annotations

import json
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from .report import PERCENTILES


def progress_bar(console: Console) -> Progress:
    """A bar that counts iterations; the caller shows it only on a terminal."""
    return Progress(
        TextColumn("[bold]requests"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    )


def print_summary_json(console: Console, summary: dict[str, Any]) -> None:
    """The summary as one JSON document."""
    console.file.write(json.dumps(summary, indent=2) + "\n")


def print_summary_table(console: Console, summary: dict[str, Any]) -> None:
    """Endpoints as columns, measures as rows; then the cache speed-up and the checks."""
    endpoints: dict[str, dict[str, Any]] = summary["endpoints"]
    table = Table(title=f"{summary['host']}  ({summary['duration_s']} s)", title_justify="left")
    table.add_column("")
    for name in endpoints:
        table.add_column(name, justify="right")
    rows: list[tuple[str, str]] = [
        ("requests", "requests"),
        ("errors", "errors"),
        ("hits", "hits (X-Cache)"),
        ("misses", "misses (X-Cache)"),
    ]
    for key, label in rows:
        table.add_row(label, *(str(stats[key]) for stats in endpoints.values()))
    for measure in ("min", *(f"p{q}" for q in PERCENTILES), "max"):
        table.add_row(
            f"latency {measure} (ms)",
            *(_latency(stats["latency_ms"], measure) for stats in endpoints.values()),
        )
    table.add_row("requests/s", *(str(stats["requests_per_s"]) for stats in endpoints.values()))
    console.print(table)

    cached = summary["first_vs_later"]
    console.print(
        f"first calls (MISS): {cached['first_calls']:>5}, p50 {_ms(cached['first_p50_ms'])}\n"
        f"later calls (HIT):  {cached['later_calls']:>5}, p50 {_ms(cached['later_p50_ms'])}\n"
        f"speed-up (p50 MISS / p50 HIT): {_times(cached['speedup'])}",
        highlight=False,
    )
    console.print(f"distinct ids: {summary['distinct_ids']}", highlight=False)
    problems: list[str] = summary["inconsistencies"]
    verdict = "consistent" if not problems else f"{len(problems)} inconsistencies"
    console.print(f"checks: {verdict}", highlight=False)
    for problem in problems[:5]:
        console.print(f"  - {problem}", highlight=False, markup=False)


def _latency(stats: dict[str, float] | None, measure: str) -> str:
    return "-" if stats is None else f"{stats[measure]:.1f}"


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} ms"


def _times(value: float | None) -> str:
    return "n/a (needs both)" if value is None else f"{value}x"
