"""The Redis tier, on a standalone server and on a 3-master cluster (ElastiCache is one)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from cache_service.breaker import CircuitBreaker, CircuitOpen
from cache_service.caches.redis import RedisCache
from cache_service.redis_connection import UNREACHABLE, RedisConnection
from tests.caches.conftest import connection
from tests.support.processes import free_port

TTL_S = 600


@pytest.fixture
async def cache(redis_target: Any, redis_prefix: str) -> AsyncIterator[RedisCache]:
    cluster = type(redis_target).__name__ == "RedisCluster"
    tier = RedisCache(
        connection(redis_target.url, cluster=cluster), prefix=redis_prefix, ttl_s=TTL_S
    )
    yield tier
    await tier.aclose()


async def test_values_come_back_and_absent_keys_are_missing(cache: RedisCache) -> None:
    await cache.set_many({"a": "FIRST", "b": 'ÜNICODE, "quoted"'})
    assert await cache.get_many(["a", "b", "absent"]) == {
        "a": "FIRST",
        "b": 'ÜNICODE, "quoted"',
    }


async def test_a_batch_spanning_many_hash_slots_needs_no_cross_slot_command(
    cache: RedisCache,
) -> None:
    items = {f"string:{i:04d}": f"V{i}" for i in range(300)}
    await cache.set_many(items)
    assert await cache.get_many([*items, "string:absent"]) == items


async def test_entries_are_namespaced_json_and_expire(
    cache: RedisCache, redis_target: Any, redis_prefix: str
) -> None:
    await cache.set_many({"payload:x": "OUT"})
    raw = redis_target.client()
    try:
        assert json.loads(raw.get(f"{redis_prefix}payload:x")) == "OUT"
        assert 0 < raw.ttl(f"{redis_prefix}payload:x") <= TTL_S
        assert raw.get("payload:x") is None
    finally:
        raw.close()


async def test_a_damaged_or_foreign_entry_reads_as_a_miss(
    cache: RedisCache, redis_target: Any, redis_prefix: str
) -> None:
    raw = redis_target.client()
    try:
        raw.set(f"{redis_prefix}payload:pickled", b"\x80\x04\x95 not json")
        raw.set(f"{redis_prefix}payload:number", "42")
    finally:
        raw.close()
    assert await cache.get_many(["payload:pickled", "payload:number"]) == {}


async def test_an_unreachable_redis_fails_once_then_is_skipped_without_waiting() -> None:
    tier = RedisCache(
        connection(f"redis://127.0.0.1:{free_port()}/0", cluster=False), prefix="p:", ttl_s=60
    )
    try:
        with pytest.raises(UNREACHABLE):
            await tier.get_many(["k"])
        started = time.perf_counter()
        for _ in range(100):
            with pytest.raises(CircuitOpen):
                await tier.get_many(["k"])
        # Printed, not asserted: timing is the benchmark's business.
        print(f"100 skipped calls took {time.perf_counter() - started:.4f}s")
    finally:
        await tier.aclose()


async def test_it_reconnects_by_itself_when_redis_comes_back(redis_server: Any) -> None:
    tier = RedisCache(
        connection(redis_server.url, cluster=False, cooldown_s=0.2), prefix="re:", ttl_s=60
    )
    try:
        await tier.set_many({"k": "before"})
        redis_server.kill()
        with pytest.raises(UNREACHABLE):
            await tier.get_many(["k"])
        redis_server.restart()
        await asyncio.sleep(0.3)  # Past the cooldown: the next call is the trial.
        await tier.set_many({"k": "after"})
        assert await tier.get_many(["k"]) == {"k": "after"}
    finally:
        await tier.aclose()


async def test_two_hundred_concurrent_first_calls_on_a_cluster_all_succeed(
    redis_cluster: Any, redis_prefix: str
) -> None:
    # Each concurrent first command used to start its own slot discovery, which closed the
    # connections the others were using.
    tier = RedisCache(connection(redis_cluster.url, cluster=True), prefix=redis_prefix, ttl_s=60)
    try:
        results = await asyncio.gather(
            *(tier.get_many([f"k{i}"]) for i in range(200)), return_exceptions=True
        )
    finally:
        await tier.aclose()
    assert [r for r in results if isinstance(r, BaseException)] == []


class SilentRedis:
    """A server that accepts connections and reads commands but never answers: a Redis that
    hangs (a full network buffer, a stopped process) rather than one that is gone."""

    def __init__(self) -> None:
        self.connections = 0
        self._server: asyncio.Server | None = None
        self._held: list[asyncio.StreamWriter] = []

    async def start(self) -> str:
        async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self.connections += 1
            self._held.append(writer)
            while await reader.read(4096):
                pass

        self._server = await asyncio.start_server(accept, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        return f"redis://127.0.0.1:{port}/0"

    async def stop(self) -> None:
        for writer in self._held:
            writer.close()
        if self._server is not None:
            self._server.close()


async def test_callers_queued_for_a_hung_redis_fail_fast_once_it_is_known_dead() -> None:
    silent = SilentRedis()
    url = await silent.start()
    breaker = CircuitBreaker("redis", cooldown_s=30, failures=UNREACHABLE)
    redis = RedisConnection(url, cluster=False, timeout_s=0.2, max_connections=2, breaker=breaker)
    attempts = 0

    async def ping(client: Any) -> object:
        nonlocal attempts
        attempts += 1
        return await client.ping()

    started = time.monotonic()
    try:
        outcomes = await asyncio.gather(
            *(redis.call(ping) for _ in range(20)), return_exceptions=True
        )
    finally:
        elapsed = time.monotonic() - started
        await redis.aclose()
        await silent.stop()
    print(f"20 callers, 2 connections: {attempts} tried Redis, all done after {elapsed:.2f}s")
    assert all(isinstance(outcome, Exception) for outcome in outcomes)
    # Only the callers holding a connection when Redis hung tried it; the other 18 saw the
    # open breaker once they had a connection, or ran out of their time bound queueing.
    assert attempts <= 2
    assert sum(isinstance(outcome, CircuitOpen) for outcome in outcomes) >= 1
