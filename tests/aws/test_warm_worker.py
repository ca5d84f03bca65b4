"""The warm worker in AWS's runtime client (CPython 3.12, the stack's assets), fed SQS batches
shaped as Lambda sends them, over moto's DynamoDB and a counting HTTP transformer."""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from cache_service.__main__ import main
from cache_service.app import build_components
from cache_service.settings import Settings
from infra.local.environment import LambdaAssets
from infra.local.runtime_api import InvocationFailed, LambdaFunction, RuntimeApi
from tests.aws.events import scheduled_event, sqs_event, sqs_event_of
from tests.support.moto_process import MotoServer, take_all
from tests.support.redis_process import RedisServer
from tests.support.transformer_server import TransformerServer

HANDLER = "cache_service.aws.warm_worker.handler"
BATCH = 10

Start = Callable[..., Awaitable[LambdaFunction]]


def worker_environment(
    moto_server: MotoServer, table: str, transformer: TransformerServer, **extra: str
) -> dict[str, str]:
    """The worker function's variables, as the stack sets them, pointed at the test's doubles."""
    return {
        **moto_server.env(table),
        "CACHE_TRANSFORMER_URL": transformer.url,
        "CACHE_TRANSFORMER_BATCH_SIZE": str(BATCH),
        "CACHE_CLAIM_TTL_S": "10",
        "CACHE_CLAIM_WAIT_S": "20",
        "POWERTOOLS_SERVICE_NAME": "cache-service-warm",
        **extra,
    }


@pytest.fixture
def transformer() -> Iterator[TransformerServer]:
    """A counting HTTP transformer of the test's own."""
    with TransformerServer(delay_s=0) as server:
        yield server


@pytest.fixture
async def start(assets: LambdaAssets) -> AsyncIterator[Start]:
    """Starts worker environments for one test and stops them at its end."""
    started: list[tuple[LambdaFunction, RuntimeApi]] = []

    async def start(environment: dict[str, str]) -> LambdaFunction:
        api = await RuntimeApi(timeout_s=90).start()
        function = await LambdaFunction(assets, HANDLER, api, environment).start()
        started.append((function, api))
        return function

    yield start
    for function, api in started:
        await function.stop()
        await api.stop()


def lines(*bodies: dict[str, list[str]]) -> str:
    """A message body: one payload per line."""
    return "\n".join(json.dumps(body) for body in bodies) + "\n"


def failures(answer: dict[str, Any]) -> set[str]:
    return {item["itemIdentifier"] for item in answer["batchItemFailures"]}


async def stored(settings: Settings, *bodies: dict[str, list[str]]) -> list[bool]:
    """Whether each payload is in the durable store, read as the API would read it."""
    components = build_components(settings)
    try:
        ids = [components.service.id_for(b["list_1"], b["list_2"]) for b in bodies]
        return [await components.service.fetch(id_) is not None for id_ in ids]
    finally:
        await components.aclose()


def reader(table: str, transformer: TransformerServer) -> Settings:
    """Settings that read the worker's table (``aws_env`` points boto3 at moto)."""
    return Settings(
        store="dynamodb",
        dynamodb_table=table,
        transformer_url=transformer.url,
        l1_max_entries=0,
    )


async def test_every_payload_of_every_message_is_stored(
    start: Start, moto_server: MotoServer, aws_env: str, transformer: TransformerServer
) -> None:
    one = {"list_1": ["a"], "list_2": ["b"]}
    two = {"list_1": ["c", "d"], "list_2": ["e", "f"]}
    three = {"list_1": ["g", "a"], "list_2": ["h", "b"]}
    worker = await start(worker_environment(moto_server, aws_env, transformer))

    answer = await worker.invoke(sqs_event([lines(one, two), lines(three)]))

    assert answer == {"batchItemFailures": []}
    settings = reader(aws_env, transformer)
    assert await stored(settings, one, two, three) == [True, True, True]


async def test_a_message_whose_transformer_call_fails_is_retried_and_only_that_one(
    start: Start, moto_server: MotoServer, aws_env: str
) -> None:
    fine = {"list_1": ["fine"], "list_2": ["also fine"]}
    poisoned = {"list_1": ["fine"], "list_2": ["poison"]}
    other = {"list_1": ["other"], "list_2": ["line"]}
    with TransformerServer(delay_s=0, refuse=frozenset({"poison"})) as transformer:
        # One string per call: the refused string fails only the payloads that need it.
        environment = worker_environment(
            moto_server, aws_env, transformer, CACHE_TRANSFORMER_BATCH_SIZE="1"
        )
        worker = await start(environment)
        event = sqs_event([lines(fine), lines(other, poisoned), lines(other)])
        ids = [record["messageId"] for record in event["Records"]]

        answer = await worker.invoke(event)

        assert failures(answer) == {ids[1]}
        settings = reader(aws_env, transformer)
        assert await stored(settings, fine, other, poisoned) == [True, True, False]


async def test_invalid_lines_are_logged_not_retried(
    start: Start, moto_server: MotoServer, aws_env: str, transformer: TransformerServer
) -> None:
    valid = {"list_1": ["valid"], "list_2": ["line"]}
    body = lines(valid) + '{"list_1": ["no list_2"]}\nnot json at all\n'
    worker = await start(worker_environment(moto_server, aws_env, transformer))

    answer = await worker.invoke(sqs_event([body]))

    assert answer == {"batchItemFailures": []}
    settings = reader(aws_env, transformer)
    assert await stored(settings, valid) == [True]


async def test_strings_shared_across_messages_are_transformed_once_in_full_batches(
    start: Start, moto_server: MotoServer, aws_env: str, transformer: TransformerServer
) -> None:
    words = [f"w{i}" for i in range(23)]
    bodies = [
        lines(
            *(
                {"list_1": [words[(m * 5 + i) % 23]], "list_2": [words[(m * 3 + i) % 23]]}
                for i in range(6)
            )
        )
        for m in range(8)
    ]
    worker = await start(worker_environment(moto_server, aws_env, transformer))

    answer = await worker.invoke(sqs_event(bodies))

    assert answer == {"batchItemFailures": []}
    sent = {word for body in bodies for word in words if f'"{word}"' in body}
    assert set(transformer.calls) == sent
    assert set(transformer.calls.values()) == {1}
    # Partial batches only when the input is exhausted: one, at the end.
    assert transformer.requests == math.ceil(len(sent) / BATCH)


async def test_an_event_that_is_neither_sqs_nor_a_schedule_fails_the_invocation(
    start: Start, moto_server: MotoServer, aws_env: str, transformer: TransformerServer
) -> None:
    worker = await start(worker_environment(moto_server, aws_env, transformer))
    with pytest.raises(InvocationFailed, match="UnknownEvent"):
        await worker.invoke({"neither": "an SQS batch nor a schedule"})


async def test_a_file_queued_with_warm_queue_is_stored_by_the_worker(
    start: Start,
    moto_server: MotoServer,
    aws_env: str,
    transformer: TransformerServer,
    sqs: Any,
    queue: str,
    tmp_path: Path,
) -> None:
    bodies = [{"list_1": [f"file {i}", "shared"], "list_2": [f"line {i}", "x"]} for i in range(30)]
    path = tmp_path / "payloads.jsonl"
    path.write_text(lines(*bodies) + "not a payload\n")
    # The command runs its own event loop: off this test's.
    assert await asyncio.to_thread(main, ["warm", str(path), "--queue", queue]) == 1
    worker = await start(worker_environment(moto_server, aws_env, transformer))

    answer = await worker.invoke(sqs_event_of(take_all(sqs, queue)))

    assert answer == {"batchItemFailures": []}
    assert await stored(reader(aws_env, transformer), *bodies) == [True] * len(bodies)
    assert set(transformer.calls.values()) == {1}


def hot_event(n: int) -> dict[str, Any]:
    """The scheduled event as the stack's rule sends it: N in its ``detail``."""
    return {**scheduled_event(), "detail": {"hot": n}}


async def test_a_scheduled_event_without_redis_refills_nothing(
    start: Start, moto_server: MotoServer, aws_env: str, transformer: TransformerServer
) -> None:
    worker = await start(worker_environment(moto_server, aws_env, transformer))
    assert await worker.invoke(hot_event(5)) == {"refill": "skipped"}


async def test_a_scheduled_event_refills_redis_with_the_most_read_payloads(
    start: Start,
    moto_server: MotoServer,
    aws_env: str,
    transformer: TransformerServer,
    redis_server: RedisServer,
    redis_prefix: str,
) -> None:
    tiers = {"CACHE_REDIS_URL": redis_server.url, "CACHE_REDIS_PREFIX": redis_prefix}
    worker = await start(worker_environment(moto_server, aws_env, transformer, **tiers))
    bodies = [{"list_1": [f"hot {i}"], "list_2": ["x"]} for i in range(4)]
    assert await worker.invoke(sqs_event([lines(*bodies)])) == {"batchItemFailures": []}
    settings = reader(aws_env, transformer).model_copy(
        update={"redis_url": redis_server.url, "redis_prefix": redis_prefix}
    )
    components = build_components(settings)
    ids = [components.service.id_for(b["list_1"], b["list_2"]) for b in bodies]
    for id_ in [*ids[:2], *ids[:2], *ids]:  # The first two read most.
        await components.service.fetch(id_)
    await components.aclose()  # Sends the read counts to the hot set.
    client = redis.Redis.from_url(redis_server.url)
    client.delete(*client.keys(f"{redis_prefix}*"))  # Redis emptied; the hot set's keys kept

    answer = await worker.invoke(hot_event(2))

    assert answer["refill"]["loaded"] == 2
    cached = [client.exists(f"{redis_prefix}payload:{id_}") for id_ in ids]
    assert cached == [1, 1, 0, 0]
