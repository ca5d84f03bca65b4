"""The DynamoDB store against moto's server over HTTP, as boto3 talks to the real one."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections import Counter
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any, cast

import boto3
import pytest

from cache_service.app import Components, build_components
from cache_service.errors import StoreUnavailable
from cache_service.settings import Settings
from cache_service.stores.dynamodb.codec import INLINE_BYTES
from cache_service.stores.dynamodb.store import ITEM_ACTIONS, DynamoDbStore
from tests.support.processes import free_port
from tests.support.recording_proxy import RecordingProxy

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient


@pytest.fixture
async def store(aws_env: str) -> AsyncIterator[DynamoDbStore]:
    # A generous bound: moto answers a write in 10-20 ms on a loaded 2-core machine.
    store = DynamoDbStore(aws_env, timeout_s=30, retry_after_s=1, ttl_s=3600, recorded_by="t@1")
    yield store
    await store.aclose()


def _item(table: str, key: str) -> dict[str, Any]:
    client = boto3.client("dynamodb")
    return client.get_item(TableName=table, Key={"pk": {"S": key}}, ConsistentRead=True)["Item"]


async def test_an_item_records_when_and_by_which_transformer_and_when_it_expires(
    store: DynamoDbStore, aws_env: str
) -> None:
    await store.claim(["payload:meta"], "t", 30)
    await store.complete({"payload:meta": "X"}, "t")
    item = _item(aws_env, "payload:meta")
    assert item["transformer"] == {"S": "t@1"}
    assert "token" not in item
    created, expires = float(item["created_at"]["N"]), int(item["expires_at"]["N"])
    assert 3599 <= expires - created <= 3601


async def test_batch_reads_go_past_the_hundred_key_limit(store: DynamoDbStore) -> None:
    items = {f"string:{i}": f"V{i}" for i in range(250)}
    await store.complete(items, "t")
    assert await store.get_many([*items, "string:absent"], consistent=True) == items


async def test_a_value_larger_than_an_item_is_split_and_read_back(store: DynamoDbStore) -> None:
    # Random-ish text that compresses poorly, well past DynamoDB's 400 KB item limit.
    value = "".join(f"{i * 7919 % 1000003:x}," for i in range(200_000))
    assert len(value.encode()) > 3 * INLINE_BYTES
    completion = await store.complete({"payload:big": value}, "t")
    assert completion.created == {"payload:big"}
    assert await store.get_many(["payload:big"], consistent=True) == {"payload:big": value}
    assert await store.get_many(["payload:big", "payload:other"]) == {"payload:big": value}
    assert (await store.claim(["payload:big"], "u", 30)).completed == {"payload:big": value}


def _big_value() -> str:
    return "".join(f"{i * 7919 % 1000003:x}," for i in range(200_000))


def _parts(table: str) -> list[dict[str, Any]]:
    client = boto3.client("dynamodb")
    items = client.scan(TableName=table, ConsistentRead=True)["Items"]
    return [item for item in items if item["pk"]["S"].startswith("part#")]


async def test_a_split_value_with_a_part_missing_counts_as_absent_and_is_made_again(
    aws_env: str,
) -> None:
    # DynamoDB's sweeper deletes expired items in any order, days late: a part may go first.
    damaged: list[int] = []
    store = DynamoDbStore(aws_env, timeout_s=30, retry_after_s=1, on_damage=damaged.append)
    try:
        await store.complete({"payload:big": _big_value()}, "t")
        boto3.client("dynamodb").delete_item(
            TableName=aws_env, Key={"pk": _parts(aws_env)[0]["pk"]}
        )
        assert await store.get_many(["payload:big"], consistent=True) == {}
        assert (await store.claim(["payload:big"], "u", 30)).claimed == {"payload:big"}
        completion = await store.complete({"payload:big": _big_value()}, "u")
        assert completion.created == {"payload:big"}
        assert await store.get_many(["payload:big"], consistent=True) == {
            "payload:big": _big_value()
        }
        assert sum(damaged) >= 2  # Counted where it was met: the read and the claim.
    finally:
        await store.aclose()


async def test_a_split_value_with_a_corrupt_part_counts_as_absent(
    store: DynamoDbStore, aws_env: str
) -> None:
    await store.complete({"payload:big": _big_value()}, "t")
    part = _parts(aws_env)[0]
    boto3.client("dynamodb").put_item(
        TableName=aws_env, Item={**part, "chunk": {"B": b"not zlib at all"}}
    )
    assert await store.get_many(["payload:big"], consistent=True) == {}


async def test_parts_expire_after_their_head(store: DynamoDbStore, aws_env: str) -> None:
    await store.complete({"payload:big": _big_value()}, "t")
    head = int(_item(aws_env, "payload:big")["expires_at"]["N"])
    assert {int(part["expires_at"]["N"]) > head for part in _parts(aws_env)} == {True}


async def test_without_a_ttl_the_parts_of_a_stored_value_never_expire(aws_env: str) -> None:
    store = DynamoDbStore(aws_env, timeout_s=30, retry_after_s=1)
    try:
        await store.complete({"payload:big": _big_value()}, "t")
    finally:
        await store.aclose()
    assert "expires_at" not in _item(aws_env, "payload:big")
    assert [part for part in _parts(aws_env) if "expires_at" in part] == []


async def test_a_losing_completion_leaves_no_part_behind_that_never_expires(
    aws_env: str,
) -> None:
    store = DynamoDbStore(aws_env, timeout_s=30, retry_after_s=1)
    try:
        await store.complete({"payload:big": _big_value()}, "winner")
        lost = await store.complete({"payload:big": _big_value() + "other"}, "loser")
    finally:
        await store.aclose()
    assert lost.created == frozenset()
    head = _item(aws_env, "payload:big")
    kept = [part for part in _parts(aws_env) if "expires_at" not in part]
    assert {part["pk"]["S"].split("#")[1] for part in kept} == {head["digest"]["S"]}


async def test_a_completion_whose_answer_was_lost_is_still_its_own_creation(
    recording: RecordingProxy, aws_env: str
) -> None:
    store = DynamoDbStore(aws_env, timeout_s=30, retry_after_s=1)
    try:
        await store.claim(["k"], "t", 30)
        recording.lose_next_write()  # The head's write lands; its answer does not.
        completion = await store.complete({"k": "V"}, "t")
    finally:
        await store.aclose()
    assert (completion.created, completion.lapsed) == (frozenset({"k"}), frozenset())


async def test_one_key_failing_in_a_claim_releases_the_keys_the_others_claimed(
    recording: RecordingProxy, aws_env: str
) -> None:
    store = DynamoDbStore(aws_env, timeout_s=30, retry_after_s=1)
    try:
        recording.refused_keys.add("string:2")
        with pytest.raises(StoreUnavailable):
            await store.claim(["string:1", "string:2", "string:3"], "t", 30)
        recording.refused_keys.clear()
        outcome = await store.claim(["string:1", "string:3"], "next", 30)
    finally:
        await store.aclose()
    assert outcome.claimed == {"string:1", "string:3"}


async def test_a_claim_cut_off_by_its_callers_deadline_leaves_no_claim_behind(
    recording: RecordingProxy, aws_env: str
) -> None:
    store = DynamoDbStore(aws_env, timeout_s=30, retry_after_s=1)
    try:
        recording.delay_s = 0.5  # The PutItem is under way when the caller gives up.
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(store.claim(["k"], "cut-off", 30), 0.2)
        recording.delay_s = 0
        await asyncio.sleep(1.5)  # It lands, and is undone.
        outcome = await store.claim(["k"], "next", 30)
    finally:
        await store.aclose()
    assert outcome.claimed == {"k"}


async def test_a_missing_table_is_a_503_that_says_how_to_create_it(aws_env: str) -> None:
    store = DynamoDbStore("no-such-table", timeout_s=5, retry_after_s=3)
    try:
        with pytest.raises(StoreUnavailable, match="create-table") as caught:
            await store.get_many(["payload:x"])
        assert caught.value.retry_after_s == 3
    finally:
        await store.aclose()


async def test_an_endpoint_that_does_not_answer_is_a_503(
    monkeypatch: pytest.MonkeyPatch, aws_env: str
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", f"http://127.0.0.1:{free_port()}")
    store = DynamoDbStore(aws_env, timeout_s=2, retry_after_s=1)
    try:
        with pytest.raises(StoreUnavailable):
            await store.complete({"payload:x": "X"}, "t")
    finally:
        await store.aclose()


def test_create_table_creates_it_once_and_then_says_it_exists(
    moto_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("CACHE_")}
    environment.update(moto_server.env("created-by-cli"))

    def create() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "cache_service", "create-table"],
            env=environment,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    first, second = create(), create()
    assert (first.returncode, first.stdout.strip()) == (0, "table created-by-cli created")
    assert (second.returncode, second.stdout.strip()) == (0, "table created-by-cli already exists")
    for name, value in moto_server.env("created-by-cli").items():
        if name.startswith("AWS_"):
            monkeypatch.setenv(name, value)
    ttl = boto3.client("dynamodb").describe_time_to_live(TableName="created-by-cli")
    assert ttl["TimeToLiveDescription"]["AttributeName"] == "expires_at"


def dynamodb_service(table: str, **settings: Any) -> Components:
    """The whole service on ``table``, transforming without delay."""
    return build_components(
        Settings(store="dynamodb", dynamodb_table=table, transformer_delay_ms=0, **settings)
    )


async def test_a_whole_workload_calls_only_the_actions_the_stack_grants(
    recording: RecordingProxy, aws_env: str
) -> None:
    # One string's output past an item's 400 KB, so split values are part of the workload.
    components = dynamodb_service(aws_env, l1_max_entries=0, max_output_bytes_per_string=1_000_000)
    try:
        made = await components.service.submit(["a", "b", "x" * 400_000], ["c", "d", "e"])
        again = await components.service.submit(["a", "b", "x" * 400_000], ["c", "d", "e"])
        fetched = await components.service.fetch(made.id)
        await components.store.ping()
    finally:
        await components.aclose()
    assert fetched is not None
    assert (made.created, again.created, fetched.output) == (True, False, made.output)
    print("actions called:", sorted(set(recording.actions)))
    assert set(recording.actions) <= set(ITEM_ACTIONS)
    assert {"dynamodb:PutItem", "dynamodb:GetItem", "dynamodb:UpdateItem"} <= set(recording.actions)


_WRITES = {"dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"}


async def test_a_miss_costs_two_write_requests_per_distinct_string_and_two_per_payload(
    recording: RecordingProxy, aws_env: str
) -> None:
    # Claims are renewed every third of their expiry while the work runs; moto on a loaded
    # machine can take that long, so the expiry is set past this test's whole run.
    components = dynamodb_service(aws_env, store_timeout_s=30, claim_ttl_s=600, claim_wait_s=601)
    strings = [f"s{i}" for i in range(150)]  # Past one BatchGetItem's hundred keys.
    try:
        made = await components.service.submit(strings[:75], strings[75:])
    finally:
        await components.aclose()
    calls = Counter(recording.actions)
    writes = sum(calls[action] for action in _WRITES)
    print(f"a miss of {len(strings)} distinct strings: {dict(calls)}")
    assert made.created
    assert writes == 2 * len(strings) + 2
    assert calls["dynamodb:BatchGetItem"] == 2  # Reads batched: 150 keys in two requests.


class ThrottlingClient:
    """DynamoDB answering BatchGetItem the way it does when throttled: part of the keys come
    back as UnprocessedKeys. moto never throttles, so this one behaviour needs a stand-in."""

    def __init__(self, table: str, unprocessed_rounds: int) -> None:
        self.table = table
        self.unprocessed_rounds = unprocessed_rounds
        self.calls = 0

    def store(self) -> DynamoDbStore:
        """A store on this client instead of boto3's."""
        client = cast("DynamoDBClient", self)
        return DynamoDbStore(self.table, timeout_s=5, retry_after_s=1, client=lambda: client)

    def close(self) -> None:
        return None

    def batch_get_item(self, RequestItems: dict[str, Any]) -> dict[str, Any]:  # noqa: N803
        self.calls += 1
        keys = RequestItems[self.table]["Keys"]
        if self.calls <= self.unprocessed_rounds:
            served, held = keys[:1], keys[1:]
        else:
            served, held = keys, []
        items = [{"pk": key["pk"], "value": {"S": key["pk"]["S"].upper()}} for key in served]
        reply: dict[str, Any] = {"Responses": {self.table: items}}
        if held:
            reply["UnprocessedKeys"] = {self.table: {**RequestItems[self.table], "Keys": held}}
        return reply


async def test_unprocessed_keys_are_retried_until_every_key_is_answered() -> None:
    client = ThrottlingClient("t-throttled", unprocessed_rounds=3)
    store = client.store()
    keys = ["string:a", "string:b", "string:c", "string:d", "string:e"]
    found = await store.get_many(keys, consistent=True)
    await store.aclose()
    assert found == {key: key.upper() for key in keys}
    assert client.calls == 4


async def test_keys_that_stay_unprocessed_become_a_503_not_a_partial_answer() -> None:
    client = ThrottlingClient("t-throttled", unprocessed_rounds=100)
    store = client.store()
    # One key served per round, fewer rounds than keys: some are never answered.
    keys = [f"string:{i}" for i in range(20)]
    with pytest.raises(StoreUnavailable, match="unprocessed"):
        await store.get_many(keys, consistent=True)
    await store.aclose()


async def test_calls_abandoned_on_a_hung_endpoint_free_the_pool_by_their_deadline(
    recording: RecordingProxy, aws_env: str
) -> None:
    # Before: botocore's read timeout was the whole bound, times three attempts, so threads
    # of calls the callers had given up on stayed busy three times longer and the calls
    # behind them timed out in the queue.
    store = DynamoDbStore(aws_env, timeout_s=1, retry_after_s=1, max_workers=4)
    try:
        await store.get_many(["payload:warm"])
        recording.hang()
        outcomes = await asyncio.gather(
            *(store.get_many([f"payload:{i}"]) for i in range(8)), return_exceptions=True
        )
        recording.release()
        assert all(isinstance(outcome, StoreUnavailable) for outcome in outcomes)
        assert await store.get_many(["payload:after"]) == {}
    finally:
        recording.release()
        await store.aclose()
