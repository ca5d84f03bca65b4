"""Coalescing in one process, and waiting on work another process holds."""

from __future__ import annotations

import asyncio

import pytest

from cache_service.errors import WaitTimeout
from cache_service.singleflight import Coordinator, Lease, ProcessLocalLeases, SingleFlight


async def test_concurrent_callers_share_one_run_and_one_is_the_leader() -> None:
    flights = SingleFlight()
    runs = 0

    async def work() -> str:
        nonlocal runs
        runs += 1
        await asyncio.sleep(0.01)
        return "done"

    results = await asyncio.gather(*(flights.run("k", work) for _ in range(20)))
    assert runs == 1
    assert {value for value, _ in results} == {"done"}
    assert sum(leader for _, leader in results) == 1


async def test_a_failure_reaches_every_waiter_and_the_next_call_runs_again() -> None:
    flights = SingleFlight()
    attempts = 0

    async def work() -> str:
        nonlocal attempts
        attempts += 1
        await asyncio.sleep(0.01)
        if attempts == 1:
            raise RuntimeError("first attempt fails")
        return "ok"

    outcomes = await asyncio.gather(
        *(flights.run("k", work) for _ in range(3)), return_exceptions=True
    )
    assert all(isinstance(outcome, RuntimeError) for outcome in outcomes)
    assert await flights.run("k", work) == ("ok", True)


async def test_a_caller_that_goes_away_does_not_cancel_the_work() -> None:
    flights = SingleFlight()
    finished = asyncio.Event()

    async def work() -> str:
        await asyncio.sleep(0.05)
        finished.set()
        return "stored"

    caller = asyncio.create_task(flights.run("k", work))
    await asyncio.sleep(0.01)
    caller.cancel()
    await asyncio.wait_for(finished.wait(), 1)
    assert finished.is_set()


class HeldElsewhere:
    """Leases for a key another process holds: never granted."""

    async def try_acquire(self, key: str) -> Lease | None:
        return None

    async def aclose(self) -> None:
        return None


async def test_a_waiter_returns_the_value_once_the_holder_stores_it() -> None:
    coordinator = Coordinator(HeldElsewhere(), wait_s=5, retry_after_s=1, poll_s=(0.005, 0.01))
    stored: dict[str, str] = {}

    async def lookup() -> str | None:
        return stored.get("k")

    async def produce() -> str:
        raise AssertionError("the holder elsewhere does the work, not us")

    asyncio.get_running_loop().call_later(0.05, stored.__setitem__, "k", "theirs")
    assert await coordinator.once("k", lookup, produce) == ("theirs", False)


async def test_a_waiter_gives_up_after_the_wait_bound_with_a_retry_hint() -> None:
    coordinator = Coordinator(HeldElsewhere(), wait_s=0.05, retry_after_s=3, poll_s=(0.01, 0.01))

    async def lookup() -> str | None:
        return None

    async def produce() -> str:
        raise AssertionError("never called")

    with pytest.raises(WaitTimeout) as raised:
        await coordinator.once("k", lookup, produce)
    assert raised.value.retry_after_s == 3


async def test_the_lease_holder_checks_again_before_producing() -> None:
    coordinator = Coordinator(ProcessLocalLeases(), wait_s=1, retry_after_s=1)

    async def lookup() -> str | None:
        return "finished meanwhile"

    async def produce() -> str:
        raise AssertionError("must not redo finished work")

    assert await coordinator.once("k", lookup, produce) == ("finished meanwhile", False)


async def test_only_the_caller_whose_produce_ran_is_told_it_produced() -> None:
    coordinator = Coordinator(ProcessLocalLeases(), wait_s=1, retry_after_s=1)

    async def lookup() -> str | None:
        return None

    async def produce() -> str:
        await asyncio.sleep(0.01)
        return "made"

    results = await asyncio.gather(*(coordinator.once("k", lookup, produce) for _ in range(5)))
    assert sorted(produced for _, produced in results) == [False] * 4 + [True]
