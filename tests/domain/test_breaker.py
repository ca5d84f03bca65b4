"""The circuit breaker: fail fast after a failure, one trial after the cooldown, then recover."""

from __future__ import annotations

import asyncio

import pytest

from cache_service.breaker import CircuitBreaker, CircuitOpen


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Dependency:
    """Counts calls; fails while ``down``."""

    def __init__(self) -> None:
        self.down = False
        self.calls = 0

    async def __call__(self) -> str:
        self.calls += 1
        if self.down:
            raise ConnectionError("refused")
        return "ok"


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def breaker(clock: Clock) -> CircuitBreaker:
    return CircuitBreaker("dep", cooldown_s=5, failures=(ConnectionError,), clock=clock)


async def test_a_failure_opens_it_and_later_calls_are_not_attempted(
    breaker: CircuitBreaker,
) -> None:
    dependency = Dependency()
    dependency.down = True
    with pytest.raises(ConnectionError):
        await breaker.call(dependency)
    for _ in range(10):
        with pytest.raises(CircuitOpen):
            await breaker.call(dependency)
    assert (dependency.calls, breaker.state) == (1, "open")


async def test_after_the_cooldown_one_successful_trial_closes_it(
    breaker: CircuitBreaker, clock: Clock
) -> None:
    dependency = Dependency()
    dependency.down = True
    with pytest.raises(ConnectionError):
        await breaker.call(dependency)
    dependency.down = False
    clock.now += 5
    assert breaker.state == "half-open"
    assert await breaker.call(dependency) == "ok"
    assert breaker.state == "closed"


async def test_a_failed_trial_opens_it_for_another_cooldown(
    breaker: CircuitBreaker, clock: Clock
) -> None:
    dependency = Dependency()
    dependency.down = True
    with pytest.raises(ConnectionError):
        await breaker.call(dependency)
    clock.now += 5
    with pytest.raises(ConnectionError):
        await breaker.call(dependency)
    clock.now += 4
    with pytest.raises(CircuitOpen):
        await breaker.call(dependency)
    assert dependency.calls == 2


async def test_only_one_trial_runs_while_others_fail_fast(
    breaker: CircuitBreaker, clock: Clock
) -> None:
    release = asyncio.Event()
    calls = 0

    async def slow_trial() -> str:
        nonlocal calls
        calls += 1
        await release.wait()
        return "ok"

    with pytest.raises(ConnectionError):
        await breaker.call(_failing)
    clock.now += 5
    trial = asyncio.create_task(breaker.call(slow_trial))
    await asyncio.sleep(0)
    with pytest.raises(CircuitOpen):
        await breaker.call(slow_trial)
    release.set()
    assert await trial == "ok"
    assert calls == 1


async def test_errors_that_are_not_unreachability_leave_it_closed(
    breaker: CircuitBreaker,
) -> None:
    async def bug() -> str:
        raise ValueError("our own mistake")

    with pytest.raises(ValueError, match="mistake"):
        await breaker.call(bug)
    assert breaker.state == "closed"


async def _failing() -> str:
    raise ConnectionError("refused")
