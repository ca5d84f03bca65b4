"""One specification of claim records for every durable store: memory, SQLite and DynamoDB.

A record is claimed by one token until its expiry, or completed with a value; the first value
stored wins; only the holder renews or releases; an expired claim is taken over.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from cache_service.stores.dynamodb.store import DynamoDbStore
from cache_service.stores.memory import MemoryStore
from cache_service.stores.port import DurableStore
from cache_service.stores.sqlite import SqliteStore


@pytest.fixture(params=["memory", "sqlite", "dynamodb"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[DurableStore]:
    match request.param:
        case "dynamodb":
            moto: Any = request.getfixturevalue("moto_server")
            table: str = request.getfixturevalue("dynamodb_table")
            with pytest.MonkeyPatch.context() as patch:
                for name, value in moto.env(table).items():
                    if name.startswith("AWS_"):
                        patch.setenv(name, value)
                dynamodb = DynamoDbStore(table, timeout_s=30, retry_after_s=1)  # moto is slow
                yield dynamodb
                await dynamodb.aclose()
        case "sqlite":
            sqlite = SqliteStore(tmp_path / "claims.db", timeout_s=5, retry_after_s=1)
            yield sqlite
            await sqlite.aclose()
        case _:
            yield MemoryStore()


async def test_an_absent_key_is_claimed_and_a_second_token_is_told_it_is_held(
    store: DurableStore,
) -> None:
    first = await store.claim(["k"], "a", 30)
    second = await store.claim(["k"], "b", 30)
    assert (first.claimed, first.held) == (frozenset({"k"}), frozenset())
    assert (second.claimed, second.held) == (frozenset(), frozenset({"k"}))


async def test_a_completed_key_is_reported_with_its_value_instead_of_claimed(
    store: DurableStore,
) -> None:
    await store.claim(["k"], "a", 30)
    completion = await store.complete({"k": "V"}, "a")
    later = await store.claim(["k"], "b", 30)
    assert (completion.stored, completion.created) == ({"k": "V"}, frozenset({"k"}))
    assert (later.completed, later.claimed, later.held) == ({"k": "V"}, frozenset(), frozenset())


async def test_one_claim_call_reports_each_key_in_its_own_state(store: DurableStore) -> None:
    await store.claim(["done", "theirs"], "other", 30)
    await store.complete({"done": "D"}, "other")
    outcome = await store.claim(["done", "theirs", "free"], "mine", 30)
    assert outcome.completed == {"done": "D"}
    assert outcome.held == {"theirs"}
    assert outcome.claimed == {"free"}


async def test_the_first_value_completed_wins_and_later_ones_are_told_it(
    store: DurableStore,
) -> None:
    await store.claim(["k"], "a", 30)
    first = await store.complete({"k": "FIRST"}, "a")
    second = await store.complete({"k": "SECOND"}, "b")
    assert first.created == {"k"}
    assert (second.stored, second.created) == ({"k": "FIRST"}, frozenset())
    assert await store.get_many(["k"], consistent=True) == {"k": "FIRST"}


async def test_a_claim_is_not_a_value(store: DurableStore) -> None:
    await store.claim(["k"], "a", 30)
    assert await store.get_many(["k"], consistent=True) == {}


async def test_release_frees_the_key_for_the_next_claimer(store: DurableStore) -> None:
    await store.claim(["k"], "a", 30)
    await store.release(["k"], "a")
    assert (await store.claim(["k"], "b", 30)).claimed == {"k"}


async def test_a_stale_token_neither_releases_nor_renews(store: DurableStore) -> None:
    await store.claim(["k"], "a", 0.3)
    await store.release(["k"], "intruder")
    await store.renew(["k"], "intruder", 30)
    assert (await store.claim(["k"], "b", 30)).held == {"k"}
    await asyncio.sleep(0.5)  # "a"'s expiry passes: the intruder's renewal did not extend it.
    assert (await store.claim(["k"], "b", 30)).claimed == {"k"}


async def test_an_expired_claim_is_taken_over(store: DurableStore) -> None:
    await store.claim(["k"], "a", 0.2)
    await asyncio.sleep(0.4)
    assert (await store.claim(["k"], "b", 30)).claimed == {"k"}


async def test_renewal_keeps_a_claim_past_its_first_expiry(store: DurableStore) -> None:
    await store.claim(["k"], "a", 0.4)
    for _ in range(4):
        await asyncio.sleep(0.15)
        await store.renew(["k"], "a", 0.4)
    assert (await store.claim(["k"], "b", 30)).held == {"k"}


async def test_a_holder_whose_claim_lapsed_still_completes_if_nobody_did(
    store: DurableStore,
) -> None:
    await store.claim(["k"], "slow", 0.1)
    await asyncio.sleep(0.2)
    await store.claim(["k"], "taker", 30)
    completion = await store.complete({"k": "PAID FOR"}, "slow")
    assert (completion.created, completion.lapsed) == (frozenset({"k"}), frozenset({"k"}))
    assert (await store.claim(["k"], "taker", 30)).completed == {"k": "PAID FOR"}


async def test_a_token_claiming_its_own_live_claim_again_is_told_it_claimed_it(
    store: DurableStore,
) -> None:
    # One rule for a repeated call (a retry whose first answer was lost): claimed, not held.
    await store.claim(["k"], "a", 30)
    again = await store.claim(["k"], "a", 30)
    assert (again.claimed, again.held) == (frozenset({"k"}), frozenset())
    assert (await store.claim(["k"], "b", 30)).held == {"k"}


async def test_renewal_names_the_keys_the_token_no_longer_holds(store: DurableStore) -> None:
    await store.claim(["mine", "lost", "done"], "a", 0.2)
    await asyncio.sleep(0.3)
    await store.claim(["lost"], "b", 30)
    await store.claim(["done"], "b", 30)
    await store.complete({"done": "D"}, "b")
    assert await store.renew(["mine", "lost", "done"], "a", 30) == {"lost", "done"}


async def test_a_completion_under_a_live_claim_of_ones_own_has_no_lapse(
    store: DurableStore,
) -> None:
    await store.claim(["k"], "a", 30)
    completion = await store.complete({"k": "V"}, "a")
    assert (completion.created, completion.lapsed) == (frozenset({"k"}), frozenset())


async def test_a_completion_after_another_completed_is_a_lapse(store: DurableStore) -> None:
    await store.claim(["k"], "a", 0.1)
    await asyncio.sleep(0.2)
    await store.claim(["k"], "b", 30)
    await store.complete({"k": "B"}, "b")
    late = await store.complete({"k": "A"}, "a")
    assert (late.stored, late.created, late.lapsed) == ({"k": "B"}, frozenset(), frozenset({"k"}))


async def test_hundreds_of_keys_are_claimed_and_completed_in_one_call_each(
    store: DurableStore,
) -> None:
    keys = [f"string:{i}" for i in range(250)]
    outcome = await store.claim(keys, "a", 30)
    completion = await store.complete({key: key.upper() for key in keys}, "a")
    assert outcome.claimed == set(keys)
    assert completion.created == set(keys)
    assert await store.get_many(keys, consistent=True) == {key: key.upper() for key in keys}
