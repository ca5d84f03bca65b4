"""Token leases: one token per acquisition, renewed while held, given up on release."""

from __future__ import annotations

import asyncio

from cache_service.leases import FallbackLeases, TokenLeases
from cache_service.singleflight import Lease
from cache_service.tiers.sqlite import SqliteStore


async def test_a_held_lease_outlives_its_ttl_because_it_is_renewed(store: SqliteStore) -> None:
    leases = TokenLeases(store, ttl_s=0.3)
    lease = await leases.try_acquire("work")
    assert lease is not None
    await asyncio.sleep(1.0)  # More than three TTLs.
    assert await leases.try_acquire("work") is None
    await lease.release()
    assert await leases.try_acquire("work") is not None


async def test_tasks_on_one_loop_each_get_their_own_token(store: SqliteStore) -> None:
    leases = TokenLeases(store, ttl_s=30)
    first, second = await asyncio.gather(leases.try_acquire("a"), leases.try_acquire("b"))
    assert first is not None
    assert second is not None
    # Releasing "a" must not release "b", as a shared thread-local token would.
    await first.release()
    assert await leases.try_acquire("b") is None
    await second.release()


class Unreachable:
    """A primary whose backend cannot be reached (Redis down)."""

    async def try_acquire(self, key: str) -> Lease | None:
        raise ConnectionError("refused")

    async def aclose(self) -> None:
        return None


async def test_leases_come_from_the_fallback_while_the_primary_fails(store: SqliteStore) -> None:
    store_leases = TokenLeases(store, ttl_s=30)
    leases = FallbackLeases(Unreachable(), store_leases)
    lease = await leases.try_acquire("work")
    assert lease is not None
    assert await store_leases.try_acquire("work") is None
    await lease.release()
