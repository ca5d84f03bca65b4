"""The human summary, rendered to text: a table per endpoint, the histogram, counts and checks."""

from __future__ import annotations

import io
import json
from typing import Any

from rich.console import Console
from rich.table import Table

from .thresholds import LATENCIES

BAR_WIDTH = 40


def summary_json(summary: dict[str, Any]) -> str:
    """The summary as one JSON document."""
    return json.dumps(summary, indent=2) + "\n"


def summary_table(summary: dict[str, Any], *, terminal: bool, width: int | None = None) -> str:
    """Endpoints as columns, measures as rows; then the histogram, counts, cache and checks."""
    text = io.StringIO()
    console = Console(
        file=text, force_terminal=terminal, width=width or 100, highlight=False, soft_wrap=True
    )
    _print(console, summary)
    return text.getvalue()


def _print(console: Console, summary: dict[str, Any]) -> None:
    endpoints: dict[str, dict[str, Any]] = summary["endpoints"]
    stopped = f", stopped early: {summary['stopped']}" if summary["stopped"] else ""
    console.print(
        f"{summary['host']}: {summary['requests']:,} requests in {summary['duration_s']} s, "
        f"{_number(summary['requests_per_s'])} requests/s, "
        f"{summary['connections_opened']} connections opened{stopped}",
        markup=False,
    )
    table = Table()
    table.add_column("")
    for name in endpoints:
        table.add_column(name, justify="right")
    for key, label in (
        ("requests", "requests"),
        ("errors", "errors"),
        ("hits", "hits (X-Cache)"),
        ("misses", "misses (X-Cache)"),
    ):
        table.add_row(label, *(f"{stats[key]:,}" for stats in endpoints.values()))
    for measure in LATENCIES:
        table.add_row(
            f"latency {measure} (ms)",
            *(_latency(stats["latency_ms"], measure) for stats in endpoints.values()),
        )
    table.add_row("requests/s", *(_number(stats["requests_per_s"]) for stats in endpoints.values()))
    console.print(table)

    bins: list[dict[str, float]] = summary["latency_histogram"]
    if bins:
        console.print("latency histogram (ms, every answered request):")
        most = max(b["count"] for b in bins) or 1
        for b in bins:
            bar = "■" * round(BAR_WIDTH * b["count"] / most)
            console.print(f"  {b['le_ms']:>10} [{b['count']:>8}] |{bar}", markup=False)
    statuses = ", ".join(f"{code} ({n:,})" for code, n in summary["status_codes"].items())
    console.print(f"status codes: {statuses or 'none'}")
    errors = ", ".join(f"{kind} ({n:,})" for kind, n in summary["errors"].items())
    console.print(f"errors: {errors or 'none'}", markup=False)

    cached = summary["first_vs_later"]
    console.print(
        f"first calls (MISS): {cached['first_calls']:>6}, p50 {_ms(cached['first_p50_ms'])}\n"
        f"later calls (HIT):  {cached['later_calls']:>6}, p50 {_ms(cached['later_p50_ms'])}\n"
        f"speed-up (p50 MISS / p50 HIT): {_times(cached['speedup'])}"
    )
    console.print(f"distinct ids: {summary['distinct_ids']}")
    count = summary["inconsistency_count"]
    if not count:
        console.print("checks: consistent")
    else:
        kinds = ", ".join(f"{check} ({n:,})" for check, n in summary["checks_failed"].items())
        console.print(f"checks: {count} failed ({kinds})", markup=False)
        for problem in summary["inconsistencies"][:5]:
            console.print(f"  - {problem}", markup=False)
    for threshold in summary["fail_if"]:
        verdict = "YES, failed" if threshold["failed"] else "no"
        value = threshold["value"]
        shown = "not measured" if value is None else f"{value:g} {threshold['unit']}".strip()
        console.print(f"fail if {threshold['fail_if']}: {verdict} ({shown})", markup=False)


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:,.1f}"


def _latency(stats: dict[str, float] | None, measure: str) -> str:
    return "-" if stats is None else f"{stats[measure]:.2f}"


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} ms"


def _times(value: float | None) -> str:
    return "n/a (needs both)" if value is None else f"{value}x"
