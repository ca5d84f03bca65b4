"""Latency statistics in constant memory: a log-linear histogram with exact count, mean and spread.

Buckets follow HdrHistogram's layout: exact microseconds below 128 µs, then 64 buckets per power
of two, so a percentile is within 1 % of the true value whatever the run's length, and the
memory is a few hundred counters however many requests are recorded.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

_SUB_BITS = 6  # 64 buckets per power of two: at most 1/64 wide, reported at the middle.
_EXACT_BELOW = 1 << (_SUB_BITS + 1)


def _bucket(micros: int) -> int:
    if micros < _EXACT_BELOW:
        return micros
    shift = micros.bit_length() - _SUB_BITS - 1
    return (shift << _SUB_BITS) + (micros >> shift)


def _bounds(bucket: int) -> tuple[float, float]:
    """The microseconds a bucket covers: [low, high)."""
    if bucket < _EXACT_BELOW:
        return float(bucket), float(bucket + 1)
    shift, top = divmod(bucket - _EXACT_BELOW, 1 << _SUB_BITS)
    shift += 1
    low = (top + (1 << _SUB_BITS)) << shift
    return float(low), float(low + (1 << shift))


class Histogram:
    """Latencies in milliseconds; percentiles from buckets, min, max, mean and stddev exact."""

    __slots__ = ("_counts", "_mean", "_squares", "count", "max_ms", "min_ms")

    def __init__(self) -> None:
        self._counts: dict[int, int] = {}
        self.count = 0
        self._mean = 0.0
        self._squares = 0.0  # Welford's running sum of squared deviations.
        self.min_ms = math.inf
        self.max_ms = 0.0

    def record(self, ms: float) -> None:
        bucket = _bucket(int(ms * 1000))
        self._counts[bucket] = self._counts.get(bucket, 0) + 1
        self.count += 1
        delta = ms - self._mean
        self._mean += delta / self.count
        self._squares += delta * (ms - self._mean)
        self.min_ms = min(self.min_ms, ms)
        self.max_ms = max(self.max_ms, ms)

    def merge(self, other: Histogram) -> None:
        """Add ``other``'s values, as if each had been recorded here."""
        if not other.count:
            return
        for bucket, count in other._counts.items():
            self._counts[bucket] = self._counts.get(bucket, 0) + count
        total = self.count + other.count
        delta = other._mean - self._mean
        self._squares += other._squares + delta * delta * self.count * other.count / total
        self._mean += delta * other.count / total
        self.count = total
        self.min_ms = min(self.min_ms, other.min_ms)
        self.max_ms = max(self.max_ms, other.max_ms)

    @property
    def bucket_count(self) -> int:
        """The memory it holds: one counter per bucket used."""
        return len(self._counts)

    @property
    def mean_ms(self) -> float:
        return self._mean

    @property
    def stddev_ms(self) -> float:
        """Population standard deviation, as hey and oha print it."""
        return math.sqrt(self._squares / self.count) if self.count else 0.0

    def percentile(self, q: float) -> float:
        """Nearest-rank percentile in milliseconds (the middle of its bucket, within min..max)."""
        if not self.count:
            raise ValueError("no values recorded")
        rank = max(1, math.ceil(q / 100 * self.count))
        seen = 0
        for bucket in sorted(self._counts):
            seen += self._counts[bucket]
            if seen >= rank:
                low, high = _bounds(bucket)
                middle = (low + high) / 2 / 1000
                return min(max(middle, self.min_ms), self.max_ms)
        return self.max_ms

    def bins(self, edges: list[float]) -> Iterator[tuple[float, int]]:
        """(upper edge, count) for each edge in ms: values above the previous edge, up to it."""
        counts = [0] * len(edges)
        for bucket, count in self._counts.items():
            low, high = _bounds(bucket)
            middle = min(max((low + high) / 2 / 1000, self.min_ms), self.max_ms)
            index = next((i for i, edge in enumerate(edges) if middle <= edge), len(edges) - 1)
            counts[index] += count
        yield from zip(edges, counts, strict=True)
