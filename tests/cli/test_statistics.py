"""Latency statistics in constant memory: the histogram's accuracy, and what the checks keep."""

from __future__ import annotations

import math
import random
import statistics

import pytest

from cache_cli.consistency import ConsistencyCheck
from cache_cli.histogram import Histogram

BODY = b'{"id": "%s", "output": ["A"]}'


def sample(n: int, seed: int = 7) -> list[float]:
    """Latency-shaped values in ms: mostly a few ms, a long tail to seconds."""
    rng = random.Random(seed)
    return [rng.lognormvariate(1.5, 1.0) for _ in range(n)]


def exact_percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(1, math.ceil(len(ordered) * q / 100)) - 1]


@pytest.mark.parametrize("q", [50, 90, 95, 99, 99.9])
def test_percentiles_are_within_one_percent_of_the_exact_value(q: float) -> None:
    values = sample(20_000)
    histogram = Histogram()
    for value in values:
        histogram.record(value)
    assert histogram.percentile(q) == pytest.approx(exact_percentile(values, q), rel=0.01)


def test_count_min_max_mean_and_stddev_are_exact() -> None:
    values = sample(5_000)
    histogram = Histogram()
    for value in values:
        histogram.record(value)
    assert (histogram.count, histogram.min_ms, histogram.max_ms) == (
        5_000,
        min(values),
        max(values),
    )
    assert histogram.mean_ms == pytest.approx(statistics.fmean(values))
    assert histogram.stddev_ms == pytest.approx(statistics.pstdev(values))


def test_memory_stays_bounded_however_many_values_are_recorded() -> None:
    histogram = Histogram()
    for value in sample(10_000):
        histogram.record(value)
    after_ten_thousand = histogram.bucket_count
    for value in sample(200_000, seed=8):
        histogram.record(value)
    assert histogram.bucket_count <= after_ten_thousand * 1.5  # Only new tail buckets.
    assert histogram.bucket_count < 1_000  # 64 per power of two from 1 µs to minutes.


def test_merging_equals_recording_everything_in_one() -> None:
    first, second, both = Histogram(), Histogram(), Histogram()
    for value in sample(1_000, seed=1):
        first.record(value)
        both.record(value)
    for value in sample(3_000, seed=2):
        second.record(value)
        both.record(value)
    first.merge(second)
    assert first.count == both.count
    assert first.mean_ms == pytest.approx(both.mean_ms)
    assert first.stddev_ms == pytest.approx(both.stddev_ms)
    assert first.percentile(99) == both.percentile(99)


def test_bins_count_every_value_once() -> None:
    histogram = Histogram()
    for value in sample(2_000):
        histogram.record(value)
    edges = [1.0, 10.0, 100.0, histogram.max_ms]
    assert sum(count for _, count in histogram.bins(edges)) == 2_000


def test_payloads_sent_once_are_not_remembered() -> None:
    check = ConsistencyCheck()
    for n in range(1_000):
        check.post(None, 201, "MISS", BODY % f"{n:064x}".encode())
    assert check.distinct_ids == 1_000
    assert check.remembered == 0


def test_a_repeated_payload_is_remembered_once() -> None:
    check = ConsistencyCheck()
    for _ in range(1_000):
        check.post("payload", 200, "HIT", BODY % (b"a" * 64))
    assert (check.distinct_ids, check.remembered) == (1, 1)
