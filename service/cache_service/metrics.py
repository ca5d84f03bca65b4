"""Prometheus metrics, on a registry owned by one app instance (no process globals)."""

from __future__ import annotations

from typing import NamedTuple

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

__all__ = [
    "CONTENT_TYPE_LATEST",
    "EMF_METRICS",
    "NAMESPACE",
    "Dimensions",
    "Metrics",
    "Served",
    "Tally",
]

#: The CloudWatch namespace of the service's metrics wherever they are exported as EMF: the
#: stack sets it, and a Lambda run without it (sam local, docker run) uses the same one.
NAMESPACE = "CacheService"

#: Every metric the service exports as EMF on Lambda, with the dimensions it carries besides
#: ``service``. The stack's dashboard and alarms name only these (tests/infra checks both ways).
EMF_METRICS: dict[str, tuple[str, ...]] = {
    "Requests": ("route", "status", "cache"),
    "TierLookups": ("tier", "outcome"),
    "TransformerCalls": ("outcome",),
    "TransformerStrings": (),
    "TransformerLatency": (),
    "SingleFlightWaits": ("kind",),
    "ClaimsLapsed": (),
    "DamagedValues": (),
    "HotSetFlushes": ("outcome",),
    "HotSetDropped": (),
    "ColdStart": (),
}

#: A metric's dimensions as (name, value) pairs, in a fixed order: a key for ``Tally``.
Dimensions = tuple[tuple[str, str], ...]


class Served(NamedTuple):
    """One answered request, as its access line names it."""

    method: str
    #: As the client sent it: a REST API's stage included (``/prod/payload``).
    path: str
    status: int
    request_id: str
    #: When the answer was complete (``time.time()``).
    at: float


class Tally:
    """What was counted since it was last taken, by metric name and dimensions, and the
    requests answered meanwhile.

    For an exporter that writes per invocation (EMF and the access line on Lambda): reading
    the Prometheus registry there meant collecting every counter per invocation, most of a
    warm hit's cost.
    """

    __slots__ = ("counts", "samples", "served")

    #: Values one EMF document may carry for a metric; later ones in an invocation are left out.
    MAX_SAMPLES = 100

    def __init__(self) -> None:
        self.counts: dict[tuple[str, Dimensions], float] = {}
        #: Durations in milliseconds, each kept (CloudWatch takes percentiles from them).
        self.samples: dict[tuple[str, Dimensions], list[float]] = {}
        self.served: list[Served] = []

    def add(self, name: str, dimensions: Dimensions = (), value: float = 1.0) -> None:
        key = (name, dimensions)
        self.counts[key] = self.counts.get(key, 0.0) + value

    def observe(self, name: str, milliseconds: float, dimensions: Dimensions = ()) -> None:
        values = self.samples.setdefault((name, dimensions), [])
        if len(values) < self.MAX_SAMPLES:
            values.append(milliseconds)

    def take_samples(self) -> dict[tuple[str, Dimensions], list[float]]:
        """The durations so far; observing starts again from nothing."""
        samples, self.samples = self.samples, {}
        return samples

    def take_served(self) -> list[Served]:
        """The requests answered so far; the list starts again from nothing."""
        served, self.served = self.served, []
        return served

    def take(self) -> dict[tuple[str, Dimensions], float]:
        """The counts so far; counting starts again from nothing."""
        counts, self.counts = self.counts, {}
        return counts


class Metrics:
    """The service's counters; ``transformer_calls`` is the one that proves exactly-once."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "cache_http_requests",
            "HTTP requests served.",
            ["method", "route", "status", "cache"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "cache_http_request_duration_seconds",
            "Time from request start to response end.",
            ["method", "route"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
            registry=self.registry,
        )
        self.transformer_calls = Counter(
            "cache_transformer_calls",
            "Calls made to the transformer, by outcome.",
            ["outcome"],
            registry=self.registry,
        )
        self.transformer_strings = Counter(
            "cache_transformer_strings",
            "Strings sent to the transformer in successful calls (a call carries a batch).",
            registry=self.registry,
        )
        self.transformer_latency = Histogram(
            "cache_transformer_duration_seconds",
            "Time one transformer call took.",
            registry=self.registry,
        )
        self.tier_lookups = Counter(
            "cache_tier_lookups",
            "Keys looked up per tier, by outcome (hit, miss); failures count in cache_tier_errors.",
            ["tier", "outcome"],
            registry=self.registry,
        )
        self.tier_errors = Counter(
            "cache_tier_errors",
            "Failed tier operations, by tier and operation.",
            ["tier", "operation"],
            registry=self.registry,
        )
        self.singleflight_waits = Counter(
            "cache_singleflight_waits",
            "Waits for work already under way: coalesced (another request in this process) "
            "or claimed elsewhere (another process holds the claim).",
            ["kind"],
            registry=self.registry,
        )
        self.claims_lapsed = Counter(
            "cache_claims_lapsed",
            "Keys whose claim lapsed while this process still worked on them (renewals failed "
            "or came late): another process may have made them too, paying twice.",
            registry=self.registry,
        )
        self.damaged_values = Counter(
            "cache_damaged_values",
            "Stored values found damaged (a DynamoDB head whose parts are gone): counted as "
            "absent and made again.",
            registry=self.registry,
        )
        self.hot_set_flushes = Counter(
            "cache_hot_set_flushes",
            "Flushes of read counts to the hot set in Redis, by outcome (ok, error).",
            ["outcome"],
            registry=self.registry,
        )
        self.hot_set_dropped = Counter(
            "cache_hot_set_dropped",
            "Reads left out of the hot set: new ids while CACHE_HOT_SET_SIZE distinct ids "
            "waited for a flush.",
            registry=self.registry,
        )
        self.circuit_open = Gauge(
            "cache_circuit_open",
            "1 while a dependency is skipped after a failure (circuit breaker open).",
            ["dependency"],
            registry=self.registry,
        )

        # Bound once: ``labels()`` takes a lock and a dict lookup on every call.
        self._calls = {
            True: self.transformer_calls.labels("ok"),
            False: self.transformer_calls.labels("error"),
        }
        #: Set by an exporter that needs what was counted since it last looked (EMF).
        self.tally: Tally | None = None

    def count_transformer_call(self, *, ok: bool, strings: int) -> None:
        """One paid call; ``strings`` it carried (counted for successful calls only)."""
        self._calls[ok].inc()
        if ok:
            self.transformer_strings.inc(strings)
        if self.tally is not None:
            self.tally.add("TransformerCalls", (("outcome", "ok" if ok else "error"),))
            if ok:
                self.tally.add("TransformerStrings", (), strings)

    def observe_transformer_latency(self, seconds: float) -> None:
        self.transformer_latency.observe(seconds)
        if self.tally is not None:
            self.tally.observe("TransformerLatency", round(seconds * 1000, 3))

    def count_wait(self, kind: str) -> None:
        self.singleflight_waits.labels(kind).inc()
        if self.tally is not None:
            self.tally.add("SingleFlightWaits", (("kind", kind),))

    def count_lapsed(self, keys: int) -> None:
        self.claims_lapsed.inc(keys)
        if self.tally is not None:
            self.tally.add("ClaimsLapsed", (), keys)

    def count_damaged(self, values: int) -> None:
        self.damaged_values.inc(values)
        if self.tally is not None:
            self.tally.add("DamagedValues", (), values)

    def count_hot_flush(self, ok: bool, dropped: int) -> None:
        """One flush of the hot set, and the reads dropped since the last one."""
        self.hot_set_flushes.labels("ok" if ok else "error").inc()
        if dropped:
            self.hot_set_dropped.inc(dropped)
        if self.tally is not None:
            self.tally.add("HotSetFlushes", (("outcome", "ok" if ok else "error"),))
            if dropped:
                self.tally.add("HotSetDropped", (), dropped)

    def render(self) -> bytes:
        return generate_latest(self.registry)
