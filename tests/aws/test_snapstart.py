"""SnapStart's snapshot and restores, reproduced with ``os.fork()``.

Lambda snapshots a process after its init and resumes many environments from that one image.
Here the handler's init and ``before_snapshot`` run in this process; each forked child stands
for one restored environment: it runs ``after_restore`` and then invocations through the
handler, and reports what it saw on a pipe. Against real Redis, DynamoDB (moto) and an HTTP
transformer, the configuration the stack deploys.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import traceback
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from cache_service.aws.handler import LambdaHandler
from cache_service.redis_connection import RedisConnection
from cache_service.settings import Settings
from cache_service.stores.dynamodb.store import DynamoDbStore
from cache_service.transformers.http import HttpTransformer
from infra.local.environment import LambdaAssets
from infra.local.runtime_api import LambdaFunction, RuntimeApi
from tests.aws.conftest import FakeContext, Reply
from tests.aws.events import event_for, rest_event
from tests.support.redis_process import RedisServer
from tests.support.transformer_server import TransformerServer

CHILDREN = 4

Report = dict[str, Any]


def restored(handler: LambdaHandler, children: int, work: Callable[[], Report]) -> list[Report]:
    """Fork ``children`` copies of this process; each runs the after-restore hook, then ``work``.

    Every child is started before any is read, so they run side by side, as environments
    restored from one snapshot do.
    """
    running: list[tuple[int, int]] = []
    for _ in range(children):
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # The restored environment.
            os.close(read)
            try:
                handler.after_restore()
                report = work()
            except BaseException:
                report = {"error": traceback.format_exc()}
            with os.fdopen(write, "w") as out:
                json.dump(report, out)
            os._exit(0)
        os.close(write)
        running.append((pid, read))
    reports = []
    for pid, read in running:
        with os.fdopen(read) as answer:
            text = answer.read()
        os.waitpid(pid, 0)
        report = json.loads(text) if text else {"error": "the child wrote nothing"}
        assert "error" not in report, report["error"]
        reports.append(report)
    return reports


def invoke(handler: LambdaHandler, method: str, path: str, body: Any = None) -> Reply:
    data = None if body is None else json.dumps(body).encode()
    headers = {"Content-Type": "application/json"} if body is not None else None
    return Reply(handler(rest_event(method, path, headers=headers, body=data), FakeContext()))


def components(handler: LambdaHandler) -> Any:
    assert handler.app is not None
    return handler.app.state.components


def redis_of(handler: LambdaHandler) -> RedisConnection:
    """The one Redis connection the app holds (the cache tier's)."""
    (connection,) = (a for a in components(handler).reconnecting if isinstance(a, RedisConnection))
    return connection


def dynamodb_of(handler: LambdaHandler) -> DynamoDbStore:
    (store,) = (a for a in components(handler).reconnecting if isinstance(a, DynamoDbStore))
    return store


def transformer_of(handler: LambdaHandler) -> HttpTransformer:
    (found,) = (a for a in components(handler).reconnecting if isinstance(a, HttpTransformer))
    return found


def tier_errors(handler: LambdaHandler) -> float:
    registry = components(handler).metrics.registry
    return sum(
        float(sample.value)
        for metric in registry.collect()
        if metric.name == "cache_tier_errors"
        for sample in metric.samples
        if sample.name.endswith("_total")
    )


@pytest.fixture
def memory_handler() -> Iterator[LambdaHandler]:
    """The handler on the memory store, initialised and past ``before_snapshot``."""
    handler = LambdaHandler(
        lambda: Settings.model_validate({"store": "memory", "transformer_delay_ms": 0})
    )
    handler.prepare()
    handler.before_snapshot()
    yield handler
    handler.close()


@pytest.fixture
def deployed(
    aws_env: str,
    redis_server: RedisServer,
    redis_prefix: str,
    transformer_server: TransformerServer,
) -> Iterator[LambdaHandler]:
    """The handler as the stack configures it (DynamoDB, Redis, an HTTP transformer), with
    Powertools, after its init has built and warmed everything."""
    settings = {
        "store": "dynamodb",
        "dynamodb_table": aws_env,
        "redis_url": redis_server.url,
        "redis_prefix": redis_prefix,
        "transformer_url": transformer_server.url,
        "claim_ttl_s": 10,
    }
    handler = LambdaHandler(lambda: Settings.model_validate(settings))
    handler.prepare()
    yield handler
    handler.close()


def test_init_builds_and_warms_without_a_connection(deployed: LambdaHandler) -> None:
    store = dynamodb_of(deployed)
    assert store._client is not None, "the DynamoDB client is made at init"
    assert redis_of(deployed)._client is not None, "the Redis client is made at init"
    assert transformer_of(deployed)._client is not None, "the transformer's client too"
    # Made, not connected: the warming requests needed no I/O.
    assert not store._client._endpoint.http_session._manager.pools  # type: ignore[attr-defined]


def test_before_snapshot_closes_every_connection(
    deployed: LambdaHandler, redis_server: RedisServer
) -> None:
    assert invoke(deployed, "POST", "/payload", {"list_1": ["a"], "list_2": ["b"]}).status == 201
    with redis_server.client() as admin:
        named = [c for c in admin.client_list() if c["name"] == "cache-service"]
    assert named, "the invocation connected to Redis"
    store = dynamodb_of(deployed)
    assert store._client is not None
    pools = store._client._endpoint.http_session._manager.pools  # type: ignore[attr-defined]
    assert pools, "and to DynamoDB"

    deployed.before_snapshot()

    with redis_server.client() as admin:
        assert not [c for c in admin.client_list() if c["name"] == "cache-service"]
    assert store._client is not None, "the DynamoDB client is kept"
    assert not pools, "its connections are not"
    assert redis_of(deployed)._client is None
    assert transformer_of(deployed)._client is None
    assert deployed.loop is None


def test_restored_environments_draw_their_own_ids_tokens_and_randomness(
    memory_handler: LambdaHandler,
) -> None:
    def work() -> Report:
        store = components(memory_handler).store
        tokens: list[str] = []
        claim = store.claim

        async def recording_claim(keys: Any, token: str, ttl_s: float) -> Any:
            tokens.append(token)
            return await claim(keys, token, ttl_s)

        store.claim = recording_claim
        reply = invoke(memory_handler, "POST", "/payload", {"list_1": ["x"], "list_2": ["y"]})
        assert reply.status == 201, reply.text
        return {
            "request_id": reply.headers["x-request-id"],
            "tokens": tokens,
            "random": random.random(),
        }

    reports = restored(memory_handler, CHILDREN, work)
    # What an environment restored without re-seeding would draw: the snapshot's next number.
    snapshot_draw = random.random()
    request_ids = {r["request_id"] for r in reports}
    tokens = [t for r in reports for t in r["tokens"]]
    draws = {r["random"] for r in reports}
    assert all(r["tokens"] for r in reports), "each child claimed its work"
    assert len(request_ids) == CHILDREN
    assert len(set(tokens)) == len(tokens)
    assert len(draws) == CHILDREN
    assert snapshot_draw not in draws


def test_a_redis_restarted_between_snapshot_and_restore_is_reconnected(
    deployed: LambdaHandler, redis_server: RedisServer, redis_prefix: str
) -> None:
    # Connected before the snapshot, as an environment that served during init would be.
    assert invoke(deployed, "POST", "/payload", {"list_1": ["a"], "list_2": ["b"]}).status == 201
    deployed.before_snapshot()
    redis_server.restart()

    def work() -> Report:
        child = os.getpid()
        reply = invoke(deployed, "POST", "/payload", {"list_1": [f"c{child}"], "list_2": ["d"]})
        return {"status": reply.status, "text": reply.text, "errors": tier_errors(deployed)}

    reports = restored(deployed, CHILDREN, work)
    assert [r["status"] for r in reports] == [201] * CHILDREN, reports
    assert [r["errors"] for r in reports] == [0] * CHILDREN, "Redis failed on a first invocation"
    with redis_server.client() as admin:
        written = admin.keys(f"{redis_prefix}*")
    assert len(written) >= CHILDREN, "each child wrote to the restarted server"


def test_no_connection_opened_before_the_snapshot_is_used_after_it(
    deployed: LambdaHandler, redis_server: RedisServer, transformer_server: TransformerServer
) -> None:
    assert invoke(deployed, "POST", "/payload", {"list_1": ["a"], "list_2": ["b"]}).status == 201
    with redis_server.client() as admin:
        before = {c["id"] for c in admin.client_list() if c["name"] == "cache-service"}
    assert before
    deployed.before_snapshot()

    def work() -> Report:
        child = os.getpid()
        reply = invoke(deployed, "POST", "/payload", {"list_1": [f"e{child}"], "list_2": ["f"]})
        loop = deployed.loop
        assert loop is not None
        used = loop.run_until_complete(redis_of(deployed).call(lambda client: client.client_id()))
        return {"status": reply.status, "redis_id": str(used)}

    reports = restored(deployed, CHILDREN, work)
    assert [r["status"] for r in reports] == [201] * CHILDREN
    used = {r["redis_id"] for r in reports}
    assert len(used) == CHILDREN, "each restored environment has its own connection"
    assert not used & {str(i) for i in before}


def test_the_hooks_are_registered_where_the_runtime_provides_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import sys
    import types

    from cache_service.aws import snapshot

    registered: dict[str, Callable[[], None]] = {}
    module = types.ModuleType("snapshot_restore_py")
    module.register_before_snapshot = lambda f: registered.setdefault("before", f)  # type: ignore[attr-defined]
    module.register_after_restore = lambda f: registered.setdefault("after", f)  # type: ignore[attr-defined]
    handler = LambdaHandler()
    assert not snapshot.register(handler.before_snapshot, handler.after_restore)
    monkeypatch.setitem(sys.modules, "snapshot_restore_py", module)
    assert snapshot.register(handler.before_snapshot, handler.after_restore)
    assert registered == {"before": handler.before_snapshot, "after": handler.after_restore}


@pytest.mark.parametrize(
    ("kind", "ahead"),
    [("snap-start", True), ("provisioned-concurrency", True), ("on-demand", False), (None, False)],
)
def test_init_runs_ahead_only_when_lambda_says_so(
    monkeypatch: pytest.MonkeyPatch, kind: str | None, ahead: bool
) -> None:
    from cache_service.aws import snapshot

    if kind is None:
        monkeypatch.delenv("AWS_LAMBDA_INITIALIZATION_TYPE", raising=False)
    else:
        monkeypatch.setenv("AWS_LAMBDA_INITIALIZATION_TYPE", kind)
    assert snapshot.initialized_ahead() is ahead


def test_warming_requests_are_not_exported_as_metrics(
    capsys: pytest.CaptureFixture[str],
) -> None:
    handler = LambdaHandler(
        lambda: Settings.model_validate({"store": "memory", "transformer_delay_ms": 0})
    )
    try:
        handler.prepare()
        capsys.readouterr()
        reply = invoke(handler, "GET", "/health")
        assert reply.status == 200
        documents = [
            json.loads(line)
            for line in capsys.readouterr().out.splitlines()
            if line.startswith("{") and '"_aws"' in line
        ]
        names = [d["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Name"] for d in documents]
        requests = [d for d, name in zip(documents, names, strict=True) if name == "Requests"]
        assert [(d["route"], d["Requests"]) for d in requests] == [("GET /health", [1.0])], (
            documents
        )
        assert "ColdStart" in names, "the first real invocation is still the cold one"
    finally:
        handler.close()


def test_warming_requests_leave_no_access_line(capsys: pytest.CaptureFixture[str]) -> None:
    handler = LambdaHandler(
        lambda: Settings.model_validate({"store": "memory", "transformer_delay_ms": 0})
    )
    try:
        handler.prepare()
        assert invoke(handler, "GET", "/health").status == 200
        lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line]
        access = [line["message"] for line in lines if line.get("location") == "access"]
        (line,) = access
        assert line.split()[0::2] == ["GET", "200"]
        assert line.split()[1].endswith("/health")
    finally:
        handler.close()


async def test_the_runtime_client_runs_the_hooks_around_its_snapshot(
    assets: LambdaAssets, redis_server: RedisServer, redis_prefix: str
) -> None:
    """AWS's runtime client, as SnapStart runs it: init (the import builds and warms the app
    and registers the hooks), the before-snapshot hooks, a wait for the restore; meanwhile
    Redis restarts; then the after-restore hooks and a first invocation that reaches it."""
    api = await RuntimeApi(timeout_s=90).start()
    environment = {
        "AWS_LAMBDA_INITIALIZATION_TYPE": "snap-start",
        "CACHE_STORE": "memory",
        "CACHE_TRANSFORMER_DELAY_MS": "0",
        "CACHE_REDIS_URL": redis_server.url,
        "CACHE_REDIS_PREFIX": redis_prefix,
    }
    function = LambdaFunction(assets, "cache_service.aws.handler.handler", api, environment)
    await function.start()
    try:
        async with asyncio.timeout(60):
            await api.snapshotted.wait()
        assert api.init_error is None, api.init_error
        with redis_server.client() as admin:
            assert not [c for c in admin.client_list() if c["name"] == "cache-service"]
        redis_server.restart()
        api.restore()
        body = json.dumps({"list_1": ["snap"], "list_2": ["start"]}).encode()
        headers = {"Content-Type": "application/json"}
        answer = await function.invoke(
            event_for("rest", "POST", "/payload", headers=headers, body=body)
        )
        assert answer["statusCode"] == 201, answer
        assert api.restore_error is None, api.restore_error
        with redis_server.client() as admin:
            assert admin.keys(f"{redis_prefix}*"), "the first invocation wrote to the new server"
    finally:
        await function.stop()
        await api.stop()
