"""One specification for every lease backend: Redis, Redis Cluster, DynamoDB and SQLite."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from cache_service.breaker import CircuitBreaker
from cache_service.leases import LeaseBackend
from cache_service.tiers.dynamodb import DynamoDbStore
from cache_service.tiers.redis import UNREACHABLE, RedisConnection, RedisLeaseBackend
from cache_service.tiers.sqlite import SqliteStore


@pytest.fixture(params=["redis", "redis-cluster", "dynamodb", "sqlite"])
async def backend(
    request: pytest.FixtureRequest, redis_prefix: str, tmp_path: Path
) -> AsyncIterator[LeaseBackend]:
    match request.param:
        case "redis" | "redis-cluster":
            cluster = request.param == "redis-cluster"
            server: Any = request.getfixturevalue("redis_cluster" if cluster else "redis_server")
            connection = RedisConnection(
                server.url,
                cluster=cluster,
                timeout_s=0.5,
                max_connections=4,
                breaker=CircuitBreaker("redis", cooldown_s=1, failures=UNREACHABLE),
            )
            yield RedisLeaseBackend(connection, prefix=redis_prefix)
            await connection.aclose()
        case "dynamodb":
            moto: Any = request.getfixturevalue("moto_server")
            table: str = request.getfixturevalue("dynamodb_table")
            with pytest.MonkeyPatch.context() as patch:
                for name, value in moto.env(table).items():
                    if name.startswith("AWS_"):
                        patch.setenv(name, value)
                store = DynamoDbStore(table, timeout_s=5, retry_after_s=1)
                yield store
                await store.aclose()
        case _:
            sqlite = SqliteStore(tmp_path / "leases.db", timeout_s=5, retry_after_s=1)
            yield sqlite
            await sqlite.aclose()


async def test_only_one_holder_at_a_time(backend: LeaseBackend) -> None:
    assert await backend.acquire_lease("k", "a", 30)
    assert not await backend.acquire_lease("k", "b", 30)


async def test_release_frees_it_for_the_next_holder(backend: LeaseBackend) -> None:
    assert await backend.acquire_lease("k", "a", 30)
    await backend.release_lease("k", "a")
    assert await backend.acquire_lease("k", "b", 30)


async def test_a_stale_token_neither_releases_nor_renews(backend: LeaseBackend) -> None:
    assert await backend.acquire_lease("k", "a", 30)
    await backend.release_lease("k", "intruder")
    assert not await backend.renew_lease("k", "intruder", 30)
    assert not await backend.acquire_lease("k", "b", 30)


async def test_an_expired_lease_is_taken_over_and_the_old_holder_cannot_renew(
    backend: LeaseBackend,
) -> None:
    assert await backend.acquire_lease("k", "a", 0.2)
    await asyncio.sleep(0.4)
    assert await backend.acquire_lease("k", "b", 30)
    assert not await backend.renew_lease("k", "a", 30)


async def test_renewal_keeps_a_lease_past_its_first_expiry(backend: LeaseBackend) -> None:
    assert await backend.acquire_lease("k", "a", 0.4)
    for _ in range(4):
        await asyncio.sleep(0.15)
        assert await backend.renew_lease("k", "a", 0.4)
    assert not await backend.acquire_lease("k", "b", 30)
