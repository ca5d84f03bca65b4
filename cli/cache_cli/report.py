"""Statistics over a run's records, and the machine-readable report (JSON or JSON Lines)."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any, TextIO

from .records import ENDPOINTS, POST, RequestRecord
from .runner import RunResult
from .settings import CliSettings

PERCENTILES = (50, 90, 99)


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile of already sorted values."""
    rank = max(1, math.ceil(q / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


def latency_stats(values: Sequence[float]) -> dict[str, float] | None:
    """min, p50, p90, p99 and max in milliseconds; None without values."""
    if not values:
        return None
    ordered = sorted(values)
    stats = {"min": ordered[0]}
    stats.update({f"p{q}": percentile(ordered, q) for q in PERCENTILES})
    stats["max"] = ordered[-1]
    return {name: round(value, 3) for name, value in stats.items()}


def endpoint_summary(records: Sequence[RequestRecord], duration_s: float) -> dict[str, Any]:
    """Counts, cache outcomes, latency and throughput of one endpoint."""
    return {
        "requests": len(records),
        "errors": sum(not r.ok for r in records),
        "hits": sum(r.ok and r.cache == "HIT" for r in records),
        "misses": sum(r.ok and r.cache == "MISS" for r in records),
        "latency_ms": latency_stats([r.latency_ms for r in records if r.ok]),
        "requests_per_s": round(len(records) / duration_s, 1) if duration_s > 0 else None,
    }


def first_against_later(records: Sequence[RequestRecord]) -> dict[str, Any]:
    """POST latency when computed (MISS) against when served from the cache (HIT)."""
    posts = [r for r in records if r.endpoint == POST and r.ok]
    first = sorted(r.latency_ms for r in posts if r.cache == "MISS")
    later = sorted(r.latency_ms for r in posts if r.cache == "HIT")
    first_p50 = percentile(first, 50) if first else None
    later_p50 = percentile(later, 50) if later else None
    speedup = round(first_p50 / later_p50, 1) if first_p50 and later_p50 else None
    return {
        "first_calls": len(first),
        "first_p50_ms": first_p50,
        "later_calls": len(later),
        "later_p50_ms": later_p50,
        "speedup": speedup,
    }


def summarize(settings: CliSettings, payload_count: int, result: RunResult) -> dict[str, Any]:
    """The whole run in one JSON-ready object."""
    problems = result.check.problems
    failures = [r for r in result.records if not r.ok]
    return {
        "host": settings.host,
        "payloads": payload_count,
        "repeat": settings.repeat,
        "concurrency": settings.concurrency,
        "duration_s": round(result.duration_s, 3),
        "endpoints": {
            endpoint: endpoint_summary(
                [r for r in result.records if r.endpoint == endpoint], result.duration_s
            )
            for endpoint in ENDPOINTS
            if endpoint == POST or not settings.no_get
        },
        "first_vs_later": first_against_later(result.records),
        "distinct_ids": result.check.distinct_ids,
        "failures": len(failures),
        "first_failure": failures[0].error if failures else None,
        "inconsistencies": problems,
        "ok": not failures and not problems,
    }


def write_report(
    stream: TextIO, summary: dict[str, Any], records: Sequence[RequestRecord], *, lines: bool
) -> None:
    """The summary and one record per request: one JSON document, or JSON Lines."""
    if lines:
        for record in records:
            stream.write(json.dumps({"type": "request", **record.as_dict()}) + "\n")
        stream.write(json.dumps({"type": "summary", **summary}) + "\n")
    else:
        document = {"summary": summary, "requests": [r.as_dict() for r in records]}
        stream.write(json.dumps(document, indent=2) + "\n")
