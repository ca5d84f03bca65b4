"""Doing each unit of work once: callers in one process share a flight, and a flight claims
its keys in the store, makes the claimed ones and waits for those another process holds.

"Another process" is played by a second token claiming and completing in the same store.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Mapping, Sequence

import pytest

from cache_service.breaker import CircuitOpen
from cache_service.coordination.claims import ClaimResult
from cache_service.coordination.singleflight import SingleFlight
from cache_service.coordination.watchers import NoWakeups, Watchers
from cache_service.errors import OutOfTime, StoreUnavailable, WaitTimeout
from cache_service.stores.memory import MemoryStore, MemoryTable


def flight(store: MemoryStore, *, wait_s: float = 5, ttl_s: float = 30) -> SingleFlight:
    return SingleFlight(
        store, NoWakeups(), ttl_s=ttl_s, wait_s=wait_s, retry_after_s=3, poll_s=(0.005, 0.01)
    )


class Maker:
    """Upper-cases the keys it is asked for, counting each key and each call."""

    def __init__(self, delay_s: float = 0.01, fail_on: frozenset[str] = frozenset()) -> None:
        self.delay_s = delay_s
        self.fail_on = fail_on
        self.keys: Counter[str] = Counter()
        self.batches: list[list[str]] = []

    async def __call__(self, batch: list[str]) -> Mapping[str, str]:
        self.keys.update(batch)
        self.batches.append(batch)
        await asyncio.sleep(self.delay_s)
        if self.fail_on & set(batch):
            raise RuntimeError(f"cannot make {sorted(self.fail_on & set(batch))}")
        return {key: key.upper() for key in batch}


async def test_concurrent_callers_share_one_make_and_one_of_them_created_it() -> None:
    flights, make = flight(MemoryStore()), Maker()
    results = await asyncio.gather(*(flights.settle(["k"], make) for _ in range(20)))
    assert make.keys == {"k": 1}
    assert {result.values["k"] for result in results} == {"K"}
    assert sum("k" in result.created for result in results) == 1


async def test_callers_with_overlapping_keys_make_each_key_once() -> None:
    flights, make = flight(MemoryStore()), Maker()
    await asyncio.gather(
        flights.settle(["a", "b"], make),
        flights.settle(["b", "c"], make),
        flights.settle(["c", "a", "d"], make),
    )
    assert make.keys == {"a": 1, "b": 1, "c": 1, "d": 1}


async def test_claimed_keys_are_made_in_batches_of_the_given_size() -> None:
    flights, make = flight(MemoryStore()), Maker()
    keys = [f"k{i}" for i in range(10)]
    settled = await flights.settle(keys, make, batch_size=4)
    assert sorted(len(batch) for batch in make.batches) == [2, 4, 4]
    assert settled.values == {key: key.upper() for key in keys}
    assert settled.created == set(keys)


async def test_a_completed_key_is_not_made_again() -> None:
    store, make = MemoryStore(), Maker()
    await store.complete({"k": "stored earlier"}, "elsewhere")
    settled = await flight(store).settle(["k"], make)
    assert (settled.values, settled.created) == ({"k": "stored earlier"}, frozenset())
    assert make.keys == {}


async def test_a_failed_batch_fails_its_callers_and_frees_its_keys_for_the_next_try() -> None:
    store = MemoryStore()
    flights = flight(store)
    outcomes = await asyncio.gather(
        *(flights.settle(["bad"], Maker(fail_on=frozenset({"bad"}))) for _ in range(3)),
        return_exceptions=True,
    )
    assert all(isinstance(outcome, RuntimeError) for outcome in outcomes)
    assert (await store.claim(["bad"], "next", 30)).claimed == {"bad"}


async def test_batches_that_succeed_are_kept_when_another_batch_fails() -> None:
    store = MemoryStore()
    make = Maker(fail_on=frozenset({"k3"}))
    with pytest.raises(RuntimeError):
        await flight(store).settle(["k0", "k1", "k2", "k3"], make, batch_size=2)
    assert await store.get_many(["k0", "k1", "k2", "k3"]) == {"k0": "K0", "k1": "K1"}


async def test_a_caller_that_goes_away_does_not_cancel_the_work() -> None:
    store = MemoryStore()
    flights = flight(store)
    caller = asyncio.create_task(flights.settle(["k"], Maker(delay_s=0.05)))
    await asyncio.sleep(0.01)
    caller.cancel()
    for _ in range(100):
        if await store.get_many(["k"]):
            break
        await asyncio.sleep(0.01)
    assert await store.get_many(["k"]) == {"k": "K"}


async def test_a_key_held_elsewhere_is_waited_for_and_not_made() -> None:
    store, make = MemoryStore(), Maker()
    await store.claim(["k"], "elsewhere", 30)
    asyncio.get_running_loop().call_later(
        0.05, asyncio.ensure_future, store.complete({"k": "theirs"}, "elsewhere")
    )
    settled = await flight(store).settle(["k"], make)
    assert (settled.values, settled.created) == ({"k": "theirs"}, frozenset())
    assert make.keys == {}


async def test_free_keys_are_made_while_held_ones_are_waited_for() -> None:
    store, make = MemoryStore(), Maker()
    await store.claim(["theirs"], "elsewhere", 30)
    asyncio.get_running_loop().call_later(
        0.05, asyncio.ensure_future, store.complete({"theirs": "THEIRS"}, "elsewhere")
    )
    settled = await flight(store).settle(["theirs", "mine"], make)
    assert settled.values == {"theirs": "THEIRS", "mine": "MINE"}
    assert settled.created == {"mine"}
    assert make.keys == {"mine": 1}


async def test_a_claim_whose_holder_died_is_taken_over_after_its_expiry() -> None:
    store, make = MemoryStore(), Maker()
    await store.claim(["k"], "crashed", 0.1)
    settled = await flight(store).settle(["k"], make)
    assert (settled.values, settled.created) == ({"k": "K"}, frozenset({"k"}))


async def test_a_waiter_gives_up_after_the_wait_bound_with_a_retry_hint() -> None:
    store = MemoryStore()
    await store.claim(["k"], "elsewhere", 30)
    with pytest.raises(WaitTimeout) as raised:
        await flight(store, wait_s=0.05).settle(["k"], Maker())
    assert raised.value.retry_after_s == 3


async def test_a_long_make_keeps_its_claim_by_renewing_it() -> None:
    store = MemoryStore()
    flights = flight(store, ttl_s=0.15)
    work = asyncio.create_task(flights.settle(["k"], Maker(delay_s=0.5)))
    await asyncio.sleep(0.35)  # Past two expiries: only renewal keeps others out.
    assert (await store.claim(["k"], "other", 30)).held == {"k"}
    assert (await work).created == {"k"}


class Announced(Watchers):
    """Wake-ups that are always delivered, as a healthy Redis subscription delivers them."""

    listening = True

    async def announce(self, keys: object) -> None:
        return None

    async def aclose(self) -> None:
        return None


async def test_an_announcement_wakes_a_waiter_before_its_next_poll() -> None:
    store, wakeups = MemoryStore(), Announced()
    waiting = SingleFlight(store, wakeups, ttl_s=30, wait_s=5, retry_after_s=1)
    await store.claim(["k"], "elsewhere", 30)
    settle = asyncio.create_task(waiting.settle(["k"], Maker()))
    await asyncio.sleep(0.02)
    await store.complete({"k": "theirs"}, "elsewhere")
    wakeups.wake(["k"])
    # Well before the 250 ms safety poll a listening waiter otherwise relies on.
    done, _ = await asyncio.wait({settle}, timeout=0.15)
    assert done == {settle}
    assert settle.result().values == {"k": "theirs"}


async def test_closing_cancels_running_work_and_releases_its_claims() -> None:
    store = MemoryStore()
    flights = flight(store)
    caller = asyncio.create_task(flights.settle(["k"], Maker(delay_s=10)))
    await asyncio.sleep(0.02)
    await flights.aclose()
    with pytest.raises(asyncio.CancelledError):
        await caller
    assert (await store.claim(["k"], "next", 30)).claimed == {"k"}


async def test_the_wait_bound_counts_from_the_end_of_the_flights_own_work() -> None:
    # The key held elsewhere is done at 50 ms; this flight's own key takes 300 ms, longer
    # than the 200 ms wait bound: it must still read the held key again, not answer 503.
    store = MemoryStore()
    await store.claim(["theirs"], "elsewhere", 30)
    asyncio.get_running_loop().call_later(
        0.05, asyncio.ensure_future, store.complete({"theirs": "THEIRS"}, "elsewhere")
    )
    settled = await flight(store, wait_s=0.2).settle(["mine", "theirs"], Maker(delay_s=0.3))
    assert settled.values == {"mine": "MINE", "theirs": "THEIRS"}


async def test_held_keys_are_read_again_before_giving_up() -> None:
    store = MemoryStore()
    await store.claim(["theirs"], "elsewhere", 30)
    # Completed just before the bound, between two polls, with no announcement.
    asyncio.get_running_loop().call_later(
        0.095, asyncio.ensure_future, store.complete({"theirs": "THEIRS"}, "elsewhere")
    )
    slow_polls = SingleFlight(
        store, NoWakeups(), ttl_s=30, wait_s=0.1, retry_after_s=1, poll_s=(0.2, 0.2)
    )
    settled = await slow_polls.settle(["theirs"], Maker())
    assert settled.values == {"theirs": "THEIRS"}


async def test_a_failed_own_batch_is_answered_at_once_not_after_waiting_for_others() -> None:
    store = MemoryStore()
    await store.claim(["theirs"], "elsewhere", 30)  # held for good
    started = asyncio.get_running_loop().time()
    with pytest.raises(RuntimeError, match="cannot make"):
        await flight(store, wait_s=5).settle(["mine", "theirs"], Maker(fail_on=frozenset({"mine"})))
    assert asyncio.get_running_loop().time() - started < 1


class LostAnswers(MemoryStore):
    """Claims that take effect and whose answers never come back, as over a broken network."""

    async def claim(self, keys: Sequence[str], token: str, ttl_s: float) -> ClaimResult:
        await super().claim(keys, token, ttl_s)
        raise StoreUnavailable("the answer was lost", 1)


async def test_a_claim_whose_answer_was_lost_is_released() -> None:
    store = LostAnswers()
    with pytest.raises(StoreUnavailable):
        await flight(store).settle(["k"], Maker())
    assert (await MemoryStore.claim(store, ["k"], "next", 30)).claimed == {"k"}


async def test_a_deadline_bounds_the_expiry_of_the_claims_it_takes() -> None:
    table = MemoryTable()
    store = MemoryStore(clock=asyncio.get_running_loop().time, table=table)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 0.5
    work = asyncio.create_task(
        flight(store, ttl_s=30).settle(["k"], Maker(delay_s=0.2), deadline=deadline)
    )
    await asyncio.sleep(0.05)
    _, expires_at = table.claims["k"]
    assert expires_at <= deadline + 0.01  # Not 30 s: the deadline, give or take the call.
    await work


async def test_a_holder_overtaken_after_its_claim_lapsed_counts_the_lapse() -> None:
    store, lapsed = MemoryStore(), list[str]()
    slow = SingleFlight(
        store, NoWakeups(), ttl_s=30, wait_s=5, retry_after_s=1, on_lapse=lapsed.extend
    )
    work = asyncio.create_task(slow.settle(["k"], Maker(delay_s=0.1)))
    await asyncio.sleep(0.02)
    # Its claim lapsed (as when renewals fail) and another holder took it and finished first.
    await store.release(["k"], next(iter(_tokens(store))))
    await store.claim(["k"], "other", 30)
    await store.complete({"k": "OTHER"}, "other")
    settled = await work
    assert settled.values == {"k": "OTHER"}
    assert lapsed == ["k"]


def _tokens(store: MemoryStore) -> set[str]:
    """The tokens holding claims in ``store`` (its table is shared on purpose)."""
    return {token for token, _ in store.table.claims.values()}


async def test_drain_waits_for_a_flight_cut_off_by_its_deadline_to_release() -> None:
    store = MemoryStore()
    flights = flight(store)
    loop = asyncio.get_running_loop()
    with pytest.raises(OutOfTime):
        await flights.settle(["k"], Maker(delay_s=10), deadline=loop.time() + 0.05)
    await flights.drain(loop.time() + 1)
    assert not flights.running
    assert (await store.claim(["k"], "next", 30)).claimed == {"k"}


async def test_an_open_breaker_on_announcements_logs_nothing_per_batch(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class BreakerOpen(NoWakeups):
        async def announce(self, keys: Sequence[str]) -> None:
            raise CircuitOpen("redis is open")

    batches = SingleFlight(MemoryStore(), BreakerOpen(), ttl_s=30, wait_s=5, retry_after_s=1)
    await batches.settle([f"k{i}" for i in range(20)], Maker(delay_s=0), batch_size=1)
    assert [r for r in caplog.records if r.levelname == "WARNING"] == []


class StuckReleases(MemoryStore):
    """A store whose releases never answer (an endpoint that stopped replying)."""

    async def release(self, keys: Sequence[str], token: str) -> None:
        await asyncio.Event().wait()


async def test_drain_returns_by_its_deadline_even_when_releases_hang() -> None:
    # On Lambda the answer leaves only when the handler returns: draining past the deadline
    # would lose it.
    flights = flight(StuckReleases())
    work = asyncio.create_task(flights.settle(["k"], Maker(delay_s=10)))
    await asyncio.sleep(0.02)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 0.3
    await flights.drain(deadline)
    assert loop.time() <= deadline + 0.05
    work.cancel()
