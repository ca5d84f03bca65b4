"""The handler with the shared tiers it runs with on AWS: real Redis, DynamoDB (moto server)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from cache_service.aws.handler import LambdaHandler
from cache_service.settings import Settings
from tests.aws.conftest import Invoker
from tests.support.redis_process import RedisServer


@pytest.fixture
def shared_handler(redis_server: RedisServer, aws_env: str) -> Iterator[LambdaHandler]:
    """A handler configured as the stack configures it, against local Redis and moto."""
    settings = {
        "store": "dynamodb",
        "dynamodb_table": aws_env,
        "redis_url": redis_server.url,
        # A unique prefix per test keeps tests apart on the shared server.
        "redis_prefix": f"t{uuid.uuid4().hex[:8]}:",
        "transformer_delay_ms": 0,
        "max_body_bytes": 4096,
        # No in-process cache: every GET must reach Redis, as a cold Lambda's would.
        "l1_max_entries": 0,
    }
    handler = LambdaHandler(lambda: Settings.model_validate(settings))
    yield handler
    handler.close()


@pytest.fixture(params=["rest", "http", "url"])
def shared(request: pytest.FixtureRequest, shared_handler: LambdaHandler) -> Invoker:
    return Invoker(shared_handler, request.param)


def test_post_then_get_through_redis_and_dynamodb(shared: Invoker) -> None:
    document = {"list_1": [uuid.uuid4().hex], "list_2": ["b"]}
    posted = shared.post(document)
    assert posted.status == 201
    got = shared("GET", f"/payload/{posted.json()['id']}")
    assert (got.status, got.json()["output"]) == (200, posted.json()["output"])


def test_304_and_404_and_422_and_413_with_the_shared_tiers(shared: Invoker) -> None:
    id_ = shared.post({"list_1": [uuid.uuid4().hex], "list_2": ["b"]}).json()["id"]
    assert shared("GET", f"/payload/{id_}", headers={"If-None-Match": f'"{id_}"'}).status == 304
    assert shared("GET", "/payload/" + "f" * 64).status == 404
    assert shared("GET", "/payload/nope").status == 422
    assert shared.post({"list_1": ["x" * 5000], "list_2": ["y"]}).status == 413


def test_a_hundred_warm_invocations_open_one_redis_connection(
    shared_handler: LambdaHandler, redis_server: RedisServer
) -> None:
    invoke = Invoker(shared_handler, "rest")
    id_ = invoke.post({"list_1": [uuid.uuid4().hex], "list_2": ["b"]}).json()["id"]
    shared_handler.close()  # A new execution environment: the next invocation is cold.
    before = redis_server.connections_received()
    replies = [invoke("GET", f"/payload/{id_}") for _ in range(100)]
    # One more for our own INFO client; everything else the handler opened.
    opened = redis_server.connections_received() - before - 1
    assert {reply.status for reply in replies} == {200}
    assert {reply.headers.get("x-cache-tier") for reply in replies} == {"redis"}
    assert opened == 1


def test_the_handler_keeps_working_across_a_hundred_invocations_and_new_payloads(
    shared: Invoker,
) -> None:
    statuses = [
        shared.post({"list_1": [f"w{i}-{uuid.uuid4().hex[:6]}"], "list_2": ["b"]}).status
        for i in range(100)
    ]
    assert set(statuses) == {201}
