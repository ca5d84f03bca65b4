"""The run in one JSON-ready object: what the table shows, --format json prints, -o ends with."""

from __future__ import annotations

import math
from typing import Any

from .consistency import ConsistencyCheck
from .histogram import Histogram
from .records import POST
from .runner import RunResult
from .settings import CliSettings
from .tally import EndpointTally, Tally
from .thresholds import LATENCIES, evaluate

HISTOGRAM_BINS = 10


def latency_stats(histogram: Histogram) -> dict[str, float] | None:
    """min, mean, stddev, p50, p90, p95, p99, p99.9 and max in ms; None without values."""
    if not histogram.count:
        return None
    stats = {"min": histogram.min_ms, "mean": histogram.mean_ms, "stddev": histogram.stddev_ms}
    for name in LATENCIES:
        if name.startswith("p"):
            stats[name] = histogram.percentile(float(name[1:]))
    stats["max"] = histogram.max_ms
    return {name: round(stats[name], 3) for name in LATENCIES}


def latency_histogram(histogram: Histogram) -> list[dict[str, float]]:
    """Counts in bins spaced evenly on a log scale from min to max (latency has a long tail)."""
    if not histogram.count:
        return []
    low, high = histogram.min_ms, histogram.max_ms
    if high <= low * 1.001:
        return [{"le_ms": round(high, 3), "count": histogram.count}]
    ratio = (high / max(low, 0.001)) ** (1 / HISTOGRAM_BINS)
    edges = [max(low, 0.001) * ratio**i for i in range(1, HISTOGRAM_BINS + 1)]
    edges[-1] = high
    return [{"le_ms": _significant(edge), "count": count} for edge, count in histogram.bins(edges)]


def _significant(value: float) -> float:
    digits = 3 - math.floor(math.log10(abs(value))) - 1 if value else 0
    return round(value, max(digits, 0))


def _endpoint(stats: EndpointTally, duration_s: float) -> dict[str, Any]:
    return {
        "requests": stats.requests,
        "errors": stats.errors,
        "hits": stats.hits,
        "misses": stats.misses,
        "latency_ms": latency_stats(stats.latency),
        "requests_per_s": round(stats.requests / duration_s, 1) if duration_s > 0 else None,
    }


def _first_against_later(tally: Tally) -> dict[str, Any]:
    """POST latency when computed (MISS) against when served from the cache (HIT)."""
    first = tally.first_calls.percentile(50) if tally.first_calls.count else None
    later = tally.later_calls.percentile(50) if tally.later_calls.count else None
    return {
        "first_calls": tally.first_calls.count,
        "first_p50_ms": None if first is None else round(first, 3),
        "later_calls": tally.later_calls.count,
        "later_p50_ms": None if later is None else round(later, 3),
        "speedup": round(first / later, 1) if first and later else None,
    }


def summarize(
    settings: CliSettings,
    payload_count: int,
    tally: Tally,
    check: ConsistencyCheck,
    result: RunResult,
) -> dict[str, Any]:
    """The whole run, or as much of it as ran before a stop."""
    duration = result.duration_s
    latency = tally.latency()
    overall = latency_stats(latency)
    rate = round(tally.requests / duration, 1) if duration > 0 else None
    measured: dict[str, float | None] = {name: None for name in LATENCIES}
    measured.update(overall or {})
    measured["errors"] = tally.failed_requests
    measured["error_rate"] = (
        round(100 * tally.failed_requests / tally.requests, 3) if tally.requests else None
    )
    measured["rps"] = rate
    thresholds = evaluate(settings.fail_if, measured)
    return {
        "host": settings.target.shown,
        "payloads": payload_count,
        "repeat": None if settings.duration else settings.repeat,
        "duration_limit_s": settings.duration,
        "rate_limit": settings.rate,
        "concurrency": settings.concurrency,
        "connections_opened": result.connections,
        "duration_s": round(duration, 3),
        "stopped": result.stopped,
        "requests": tally.requests,
        "requests_per_s": rate,
        "endpoints": {
            endpoint: _endpoint(stats, duration)
            for endpoint, stats in tally.endpoints.items()
            if endpoint == POST or not settings.no_get
        },
        "latency_ms": overall,
        "latency_histogram": latency_histogram(latency),
        "status_codes": {str(status): n for status, n in sorted(tally.statuses.items())},
        "errors": dict(sorted(tally.errors.items())),
        "failures": tally.failed_requests,
        "first_failure": tally.first_failure,
        "checks_failed": dict(sorted(tally.checks.items())),
        "inconsistency_count": tally.failed_checks,
        "inconsistencies": list(tally.examples),
        "first_vs_later": _first_against_later(tally),
        "distinct_ids": check.distinct_ids,
        "fail_if": thresholds,
        "ok": tally.requests > 0 and not tally.failed_requests and not tally.failed_checks,
    }
