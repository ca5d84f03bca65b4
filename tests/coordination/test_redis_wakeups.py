"""Wake-ups over Redis pub/sub between two processes' clients, standalone and cluster."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from cache_service.breaker import CircuitBreaker
from cache_service.coordination.redis_wakeups import RedisWakeups
from cache_service.redis_connection import UNREACHABLE, RedisConnection


class Side(RedisWakeups):
    """One process's wake-ups, closing the Redis connection after them, as the app does."""

    def __init__(self, url: str, *, cluster: bool, prefix: str) -> None:
        breaker = CircuitBreaker("redis", cooldown_s=0.2, failures=UNREACHABLE)
        self.connection = RedisConnection(
            url, cluster=cluster, timeout_s=0.5, max_connections=4, breaker=breaker
        )
        super().__init__(self.connection, prefix=prefix, reconnect_s=0.1)

    async def aclose(self) -> None:
        await super().aclose()
        await self.connection.aclose()


async def until(condition: Any, timeout_s: float = 10) -> None:
    """Poll ``condition``: the states under test have no event of their own to wait on."""
    async with asyncio.timeout(timeout_s):
        while not condition():  # noqa: ASYNC110
            await asyncio.sleep(0.02)


@pytest.fixture(params=["standalone", "cluster"])
async def pair(
    request: pytest.FixtureRequest, redis_prefix: str
) -> AsyncIterator[tuple[Side, Side]]:
    cluster = request.param == "cluster"
    server: Any = request.getfixturevalue("redis_cluster" if cluster else "redis_server")
    waiter = Side(server.url, cluster=cluster, prefix=redis_prefix)
    announcer = Side(server.url, cluster=cluster, prefix=redis_prefix)
    yield waiter, announcer
    for side in (waiter, announcer):
        await side.aclose()


async def test_an_announcement_from_another_client_wakes_a_watcher_of_that_key(
    pair: tuple[RedisWakeups, RedisWakeups],
) -> None:
    waiter, announcer = pair
    with waiter.watch(["string:a", "string:b"]) as woken:
        await until(lambda: waiter.listening)
        await announcer.announce(["string:b", "string:other"])
        await asyncio.wait_for(woken.wait(), 5)


async def test_an_announcement_of_other_keys_does_not_wake_a_watcher(
    pair: tuple[RedisWakeups, RedisWakeups],
) -> None:
    waiter, announcer = pair
    with waiter.watch(["string:a"]) as woken, waiter.watch(["string:c"]) as other:
        await until(lambda: waiter.listening)
        await announcer.announce(["string:c"])
        await asyncio.wait_for(other.wait(), 5)
        assert not woken.is_set()


async def test_not_listening_while_redis_is_down_and_listening_again_once_it_is_back(
    redis_server: Any, redis_prefix: str
) -> None:
    waiter = Side(redis_server.url, cluster=False, prefix=redis_prefix)
    announcer = Side(redis_server.url, cluster=False, prefix=redis_prefix)
    try:
        with waiter.watch(["string:a"]) as woken:
            await until(lambda: waiter.listening)
            redis_server.kill()
            await until(lambda: not waiter.listening)
            redis_server.restart()
            await until(lambda: waiter.listening)
            await until(lambda: _announced(announcer, ["string:a"], woken))
    finally:
        for side in (waiter, announcer):
            await side.aclose()


def _announced(announcer: RedisWakeups, keys: list[str], woken: asyncio.Event) -> bool:
    """Announce (the announcer's breaker may still be cooling down) until the event is set."""
    if woken.is_set():
        return True
    task = asyncio.ensure_future(announcer.announce(keys))
    task.add_done_callback(lambda done: done.cancelled() or done.exception())
    return False
