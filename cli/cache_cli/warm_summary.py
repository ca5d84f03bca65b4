"""The end of a ``--warm`` run on stderr: what became of the lines, how many requests, how fast."""

from __future__ import annotations

from typing import Any

from .warming import Status, WarmCounts, WarmResult


def warm_summary(
    counts: WarmCounts, result: WarmResult, *, host: str, source: str
) -> dict[str, Any]:
    """The run in one JSON-ready object (``--format json`` prints it as it is)."""
    duration = result.duration_s
    return {
        "mode": "warm",
        "host": host,
        "input": source,
        "lines": counts.lines,
        **{str(status): counts.by_status[status] for status in Status},
        "blank_lines_skipped": counts.blank,
        "requests": counts.requests,
        "retries": counts.retries,
        "duration_s": round(duration, 3),
        "lines_per_s": round(counts.lines / duration, 1) if duration > 0 else None,
        "first_problem": counts.first_problem,
        "stopped": result.stopped,
    }


def warm_table(summary: dict[str, Any]) -> str:
    """The summary as aligned lines for a person."""
    rate = summary["lines_per_s"]
    rows = [
        ("lines", f"{summary['lines']:,}", f"{summary['blank_lines_skipped']:,} blank skipped"),
        *((str(s), f"{summary[str(s)]:,}", "") for s in Status),
        ("requests", f"{summary['requests']:,}", f"{summary['retries']:,} retries"),
        ("wall time", f"{summary['duration_s']:.2f} s", ""),
        ("rate", f"{rate:,.1f}" if rate is not None else "-", "lines/s"),
    ]
    stopped = f", stopped early: {summary['stopped']}" if summary["stopped"] else ""
    text = [f"{summary['host']}: warmed from {summary['input']}{stopped}"]
    text += [f"  {name:<10}{value:>12}  {note}".rstrip() for name, value, note in rows]
    return "\n".join(text) + "\n"
