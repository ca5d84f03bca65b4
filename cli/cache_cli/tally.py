"""A run's statistics as it goes: counters and histograms, as small after a million requests."""

from __future__ import annotations

from .consistency import Failed
from .histogram import Histogram
from .records import ENDPOINTS, POST, RequestRecord

EXAMPLES = 10  # Failed checks quoted in the summary; the report has every one.


class EndpointTally:
    """One endpoint's counts and the latency of its answered requests."""

    __slots__ = ("errors", "hits", "latency", "misses", "requests")

    def __init__(self) -> None:
        self.requests = 0
        self.errors = 0
        self.hits = 0
        self.misses = 0
        self.latency = Histogram()


class Tally:
    """Counts by endpoint, status, error kind and check; latency histograms; first examples."""

    def __init__(self) -> None:
        self.endpoints = {endpoint: EndpointTally() for endpoint in ENDPOINTS}
        self.requests = 0
        self.failed_requests = 0
        self.statuses: dict[int, int] = {}
        self.errors: dict[str, int] = {}
        self.checks: dict[str, int] = {}
        self.failed_checks = 0
        self.examples: list[str] = []
        self.first_failure: str | None = None  # "endpoint: error"
        self.first_error: str | None = None
        self.first_calls = Histogram()  # POSTs answered MISS: computed.
        self.later_calls = Histogram()  # POSTs answered HIT: from the cache.

    def add(self, record: RequestRecord) -> None:
        stats = self.endpoints[record.endpoint]
        stats.requests += 1
        self.requests += 1
        if record.status is not None:
            self.statuses[record.status] = self.statuses.get(record.status, 0) + 1
        if record.error is not None:
            stats.errors += 1
            self.failed_requests += 1
            kind = record.error_kind or "error"
            self.errors[kind] = self.errors.get(kind, 0) + 1
            if self.first_failure is None:
                self.first_failure = f"{record.endpoint}: {record.error}"
                self.first_error = record.error
        else:
            stats.latency.record(record.latency_ms)
            if record.cache == "HIT":
                stats.hits += 1
            elif record.cache == "MISS":
                stats.misses += 1
            if record.endpoint == POST:
                if record.cache == "MISS":
                    self.first_calls.record(record.latency_ms)
                elif record.cache == "HIT":
                    self.later_calls.record(record.latency_ms)
        for failed in record.failed:
            self._failed(failed)

    def latency(self) -> Histogram:
        """Every answered request's latency, all endpoints together."""
        merged = Histogram()
        for stats in self.endpoints.values():
            merged.merge(stats.latency)
        return merged

    def _failed(self, failed: Failed) -> None:
        self.failed_checks += 1
        self.checks[failed.check] = self.checks.get(failed.check, 0) + 1
        if len(self.examples) < EXAMPLES:
            self.examples.append(failed.message)
