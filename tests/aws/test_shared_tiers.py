"""The handler with the shared tiers it runs with on AWS: real Redis, DynamoDB (moto server).

Waits on the shared-tiers issue: skipped until ``Settings`` knows ``redis_url``.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
import redis

from cache_service.aws import LambdaHandler
from cache_service.settings import Settings
from tests.aws.conftest import Invoker

pytestmark = [
    pytest.mark.skipif(
        "redis_url" not in Settings.model_fields,
        reason="waiting on the shared tiers (CACHE_REDIS_URL, CACHE_STORE=dynamodb)",
    ),
    pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs redis-server"),
]

TABLE = "cache-service-test"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def redis_port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """A throwaway redis-server with no persistence."""
    port = _free_port()
    workdir: Path = tmp_path_factory.mktemp("redis")
    process = subprocess.Popen(
        ["redis-server", "--port", str(port), "--save", "", "--appendonly", "no"],
        cwd=workdir,
        stdout=subprocess.DEVNULL,
    )
    client = redis.Redis(port=port)
    deadline = time.monotonic() + 10
    while True:
        try:
            client.ping()
            break
        except redis.ConnectionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
    client.close()
    yield port
    process.terminate()
    process.wait(10)


@pytest.fixture(scope="module")
def dynamodb_endpoint() -> Iterator[str]:
    """A moto server with the table the stack creates (``pk`` string key, TTL attribute)."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    client = boto3.client(
        "dynamodb",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    client.create_table(
        TableName=TABLE,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    yield endpoint
    server.stop()


@pytest.fixture
def shared_handler(
    redis_port: int, dynamodb_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[LambdaHandler]:
    """A handler configured as the stack configures it, against local Redis and moto."""
    for name, value in {
        "AWS_ENDPOINT_URL_DYNAMODB": dynamodb_endpoint,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
    }.items():
        monkeypatch.setenv(name, value)
    settings = {
        "store": "dynamodb",
        "dynamodb_table": TABLE,
        "redis_url": f"redis://127.0.0.1:{redis_port}/0",
        # A unique prefix per test keeps tests apart on the shared server.
        "redis_prefix": f"t{uuid.uuid4().hex[:8]}:",
        "transformer_delay_ms": 0,
        "max_body_bytes": 4096,
        # No in-process cache: every GET must reach Redis, as a cold Lambda's would.
        "l1_max_entries": 0,
    }
    fields = Settings.model_fields
    handler = LambdaHandler(lambda: Settings(**{k: v for k, v in settings.items() if k in fields}))
    yield handler
    handler.close()


@pytest.fixture(params=["rest", "http", "url"])
def shared(request: pytest.FixtureRequest, shared_handler: LambdaHandler) -> Invoker:
    return Invoker(shared_handler, request.param)


def _connections_received(port: int) -> int:
    client = redis.Redis(port=port)
    try:
        return int(client.info("stats")["total_connections_received"])
    finally:
        client.close()


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
    shared_handler: LambdaHandler, redis_port: int
) -> None:
    invoke = Invoker(shared_handler, "rest")
    before = _connections_received(redis_port)
    id_ = invoke.post({"list_1": [uuid.uuid4().hex], "list_2": ["b"]}).json()["id"]
    replies = [invoke("GET", f"/payload/{id_}") for _ in range(100)]
    # One more for our own INFO client; everything else the handler opened.
    opened = _connections_received(redis_port) - before - 1
    assert {reply.status for reply in replies} == {200}
    assert {reply.headers.get("x-cache-tier") for reply in replies} != {None}
    assert opened == 1


def test_the_handler_keeps_working_across_a_hundred_invocations_and_new_payloads(
    shared: Invoker,
) -> None:
    statuses = [
        shared.post({"list_1": [f"w{i}-{uuid.uuid4().hex[:6]}"], "list_2": ["b"]}).status
        for i in range(100)
    ]
    assert set(statuses) == {201}
