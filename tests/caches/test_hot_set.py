"""The hot set: reads counted in the process, flushed to Redis, decayed by generations, and put
back after a FLUSHALL; on a standalone server and on a 3-master cluster."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest

from cache_service.caches.hot_set import HotSet
from cache_service.redis_connection import RedisConnection
from tests.caches.conftest import connection
from tests.support.processes import free_port

H = 3600  # One generation. Wall time near now: Redis expires the keys by its own clock.


class Clock:
    """Wall time that moves only when told to, starting at the beginning of a generation."""

    def __init__(self) -> None:
        self.now = (time.time() // H) * H

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def flushes() -> list[tuple[bool, int]]:
    """What each flush reported: (ok, reads dropped since the one before)."""
    return []


@pytest.fixture
async def open_hot_set(
    redis_target: Any, redis_prefix: str, clock: Clock, flushes: list[tuple[bool, int]]
) -> AsyncIterator[Callable[..., HotSet]]:
    """Makes hot sets on the server under test: each one a process of its own."""
    cluster = type(redis_target).__name__ == "RedisCluster"
    connections: list[RedisConnection] = []

    def open_one(**options: Any) -> HotSet:
        connections.append(connection(redis_target.url, cluster=cluster))
        defaults: dict[str, Any] = {"size": 100, "flush_s": 1.0, "clock": clock}
        on_flush = lambda ok, dropped: flushes.append((ok, dropped))  # noqa: E731
        return HotSet(
            connections[-1], prefix=redis_prefix, on_flush=on_flush, **(defaults | options)
        )

    yield open_one
    for made in connections:
        await made.aclose()


@pytest.fixture
def raw(redis_target: Any) -> Iterator[Any]:
    """A plain client on the server under test."""
    client = redis_target.client()
    yield client
    client.close()


def record(hot: HotSet, reads: dict[str, int]) -> None:
    for id_, n in reads.items():
        for _ in range(n):
            hot.record(id_)


async def test_reads_are_counted_and_flushed_to_redis(
    open_hot_set: Callable[..., HotSet], raw: Any, redis_prefix: str, clock: Clock
) -> None:
    hot = open_hot_set()
    record(hot, {"a": 3, "b": 1})
    assert await hot.flush()
    key = f"{{{redis_prefix}hot}}:{int(clock() // H)}"
    assert raw.zscore(key, "a") == 3
    assert raw.zscore(key, "b") == 1
    record(hot, {"a": 2})
    assert await hot.flush()
    assert raw.zscore(key, "a") == 5  # The next flush sends only the reads since the last.


async def test_the_most_read_come_first_across_processes(
    open_hot_set: Callable[..., HotSet],
) -> None:
    one, two = open_hot_set(), open_hot_set()
    record(one, {"a": 2, "b": 5, "c": 1})
    record(two, {"a": 4, "d": 3})
    assert [await one.flush(), await two.flush()] == [True, True]
    assert await one.top(3) == [("a", 6.0), ("b", 5.0), ("d", 3.0)]


async def test_old_reads_fade_over_the_next_generation_then_are_gone(
    open_hot_set: Callable[..., HotSet], clock: Clock
) -> None:
    hot = open_hot_set()
    record(hot, {"old": 8})
    assert await hot.flush()
    clock.now += H  # The start of the next generation: the old reads still weigh fully.
    record(hot, {"new": 4})
    assert await hot.flush()
    assert await hot.top(2) == [("old", 8.0), ("new", 4.0)]
    clock.now += 3 * H / 4  # Three quarters through: the old generation weighs a quarter.
    assert await hot.top(2) == [("new", 4.0), ("old", 2.0)]
    clock.now += H / 4  # Two generations on: the old reads are out of the window.
    assert await hot.top(2) == [("new", 4.0)]


async def test_pending_ids_are_bounded_and_the_dropped_reads_counted(
    open_hot_set: Callable[..., HotSet], flushes: list[tuple[bool, int]]
) -> None:
    hot = open_hot_set(max_pending=3)
    record(hot, {"a": 2, "b": 1, "c": 1})
    assert not hot.due()
    record(hot, {"d": 1, "e": 2, "a": 1})  # New ids past the bound; a known id still counts.
    assert hot.due()  # Dropping reads makes a flush due at once.
    assert await hot.flush()
    assert flushes == [(True, 3)]
    assert await hot.top(10) == [("a", 3.0), ("b", 1.0), ("c", 1.0)]


async def test_redis_keeps_the_top_size_members_in_bounded_keys(
    open_hot_set: Callable[..., HotSet], raw: Any, redis_prefix: str, clock: Clock
) -> None:
    hot = open_hot_set(size=5, max_pending=100)
    for _ in range(3):  # Three generations: the oldest key is no longer written.
        record(hot, {f"id{i:02d}": i + 1 for i in range(20)})
        assert await hot.flush()
        clock.now += H
    clock.now -= H
    generation = int(clock() // H)
    key = f"{{{redis_prefix}hot}}:{generation}"
    assert raw.zcard(key) == 5
    assert raw.zrevrange(key, 0, -1) == [f"id{i:02d}" for i in range(19, 14, -1)]
    every_node = {"target_nodes": raw.ALL_NODES} if hasattr(raw, "ALL_NODES") else {}
    keys = raw.keys(f"{{{redis_prefix}hot}}:*", **every_node)
    assert len(keys) == 6  # A set and an epoch per generation written, and no other key.
    for name in keys:  # Each expires once the window that reads it has passed.
        written_in = int(name.split("}:")[1].split(":")[0])
        assert 0 < raw.ttl(name) <= (written_in + 2) * H + 600 - time.time() + 1


async def test_after_a_flushall_the_next_flushes_put_every_process_counts_back(
    open_hot_set: Callable[..., HotSet], redis_target: Any, clock: Clock
) -> None:
    one, two = open_hot_set(), open_hot_set()
    record(one, {"a": 5, "b": 2})
    record(two, {"a": 1, "c": 3})
    assert [await one.flush(), await two.flush()] == [True, True]
    before = await one.top(10)
    redis_target.flushall()
    assert await one.top(10) == []
    record(one, {"b": 1})  # One process has new reads, the other none: both count again.
    assert [await one.flush(), await two.flush()] == [True, True]
    assert await one.top(10) == [("a", 6.0), ("b", 3.0), ("c", 3.0)]
    assert before == [("a", 6.0), ("c", 3.0), ("b", 2.0)]


async def test_a_lost_previous_generation_is_put_back_too(
    open_hot_set: Callable[..., HotSet], redis_target: Any, clock: Clock
) -> None:
    hot = open_hot_set()
    record(hot, {"old": 6})
    assert await hot.flush()
    clock.now += H + H / 2  # Half through the next generation: the old one weighs half.
    record(hot, {"new": 1})
    assert await hot.flush()
    redis_target.flushall()
    assert await hot.flush()
    assert await hot.top(10) == [("old", 3.0), ("new", 1.0)]


async def test_a_flush_while_redis_is_down_fails_once_in_the_log_and_is_sent_later(
    redis_server: Any,
    redis_prefix: str,
    flushes: list[tuple[bool, int]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    link = connection(redis_server.url, cluster=False, cooldown_s=0.2)
    hot = HotSet(
        link,
        prefix=redis_prefix,
        size=100,
        flush_s=1,
        on_flush=lambda ok, dropped: flushes.append((ok, dropped)),
    )
    try:
        record(hot, {"a": 2})
        assert await hot.flush()
        redis_server.kill()
        caplog.set_level(logging.WARNING)
        record(hot, {"a": 3, "b": 1})
        assert not await hot.flush()
        record(hot, {"b": 1})
        assert not await hot.flush()
        assert len([r for r in caplog.records if "hot set: flush" in r.message]) == 1
        redis_server.restart()
        await asyncio.sleep(0.3)  # Past the breaker's cooldown: the next call is its trial.
        assert await hot.flush()
        # Redis restarted empty: the process's whole count, with the reads kept meanwhile.
        assert await hot.top(10) == [("a", 5.0), ("b", 2.0)]
        assert flushes == [(True, 0), (False, 0), (False, 0), (True, 0)]
    finally:
        await link.aclose()


async def test_an_unreachable_redis_never_fails_the_caller() -> None:
    link = connection(f"redis://127.0.0.1:{free_port()}/0", cluster=False)
    hot = HotSet(link, prefix="p:", size=10, flush_s=1)
    try:
        hot.record("a")
        assert not await hot.flush()
        assert not await hot.flush()  # The breaker is open now: skipped, still no exception.
    finally:
        await link.aclose()
