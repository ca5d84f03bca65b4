"""X-Ray on Lambda: each invocation's calls to the transformer, the store and Redis as subsegments.

The handler runs in AWS's runtime client (CPython 3.12, the stack's assets), which puts each
invocation's trace header in ``_X_AMZN_TRACE_ID``; the X-Ray SDK sends what it records over
UDP to ``AWS_XRAY_DAEMON_ADDRESS``, here a socket the test reads, as Lambda's daemon would.
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from cache_service.aws.observability import XRaySpans
from infra.local.environment import LambdaAssets
from infra.local.runtime_api import LambdaFunction, RuntimeApi, trace_header
from tests.aws.events import event_for
from tests.support.moto_process import MotoServer
from tests.support.redis_process import RedisServer

HANDLER = "cache_service.aws.handler.handler"
PAYLOAD = {"list_1": ["alpha", "beta", "gamma"], "list_2": ["delta", "epsilon", "zeta"]}
Entity = dict[str, Any]


class Daemon:
    """A stand-in for the X-Ray daemon: the UDP socket the SDK sends its documents to."""

    def __init__(self) -> None:
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._socket.bind(("127.0.0.1", 0))
        self._socket.settimeout(0.2)
        self.address = f"127.0.0.1:{self._socket.getsockname()[1]}"

    def entities(self, *, until_name: str = "## handler", timeout_s: float = 10) -> list[Entity]:
        """Every document received until one named ``until_name`` arrived (and a short drain)."""
        received: list[Entity] = []
        deadline = time.monotonic() + timeout_s
        seen_until = False
        while time.monotonic() < deadline:
            try:
                datagram = self._socket.recv(65536)
            except TimeoutError:
                if seen_until:
                    break
                continue
            header, _, body = datagram.decode().partition("\n")
            assert json.loads(header) == {"format": "json", "version": 1}
            entity = json.loads(body)
            received.append(entity)
            seen_until = seen_until or entity["name"] == until_name
        assert seen_until, f"no {until_name!r} within {timeout_s} s: {received}"
        return received

    def silent(self, seconds: float) -> bool:
        """True if nothing at all arrives within ``seconds``."""
        self._socket.settimeout(seconds)
        try:
            self._socket.recv(65536)
        except TimeoutError:
            return True
        finally:
            self._socket.settimeout(0.2)
        return False

    def close(self) -> None:
        self._socket.close()


@pytest.fixture
def daemon() -> Iterator[Daemon]:
    listening = Daemon()
    yield listening
    listening.close()


@dataclass
class Traced:
    """One execution environment whose trace data goes to ``daemon``."""

    function: LambdaFunction
    api: RuntimeApi
    daemon: Daemon

    async def invoke(self, event: Mapping[str, Any]) -> tuple[Any, list[Entity]]:
        answer = await self.function.invoke(event)
        return answer, self.daemon.entities()


@pytest.fixture
async def start(assets: LambdaAssets, daemon: Daemon) -> AsyncIterator[Any]:
    """``await start(environment)``: a function process tracing to ``daemon``."""
    started: list[Traced] = []

    async def starting(environment: Mapping[str, str]) -> Traced:
        api = await RuntimeApi(timeout_s=90).start()
        variables = {
            "AWS_XRAY_DAEMON_ADDRESS": daemon.address,
            "POWERTOOLS_SERVICE_NAME": "cache-service",
            "CACHE_TRANSFORMER_DELAY_MS": "50",
            **environment,
        }
        function = await LambdaFunction(assets, HANDLER, api, variables).start()
        started.append(Traced(function, api, daemon))
        return started[-1]

    yield starting
    for traced in started:
        await traced.function.stop()
        await traced.api.stop()


def trace_parts(header: str) -> dict[str, str]:
    return dict(part.split("=", 1) for part in header.split(";"))


def named(entities: list[Entity], name: str) -> list[Entity]:
    return [entity for entity in entities if entity["name"] == name]


def calls(entities: list[Entity], dependency: str, operation: str) -> list[Entity]:
    """Our spans of ``operation`` on ``dependency`` (at least one, or the test fails)."""
    found = [
        entity
        for entity in named(entities, dependency)
        if entity.get("annotations", {}).get("operation") == operation
    ]
    assert found, f"no {dependency} {operation} in {[e['name'] for e in entities]}"
    return found


def handler_of(entities: list[Entity]) -> Entity:
    (handler,) = named(entities, "## handler")
    return handler


def post(document: Any) -> dict[str, Any]:
    headers = {"Content-Type": "application/json"}
    return event_for(
        "rest", "POST", "/payload", headers=headers, body=json.dumps(document).encode()
    )


def sqlite(tmp_path: Path) -> dict[str, str]:
    return {"CACHE_STORE": "sqlite", "CACHE_SQLITE_PATH": str(tmp_path / "cache.db")}


async def test_the_handler_subsegment_belongs_to_the_invocations_trace(
    start: Any, tmp_path: Path
) -> None:
    traced = await start(sqlite(tmp_path))
    answer, entities = await traced.invoke(post(PAYLOAD))
    assert answer["statusCode"] == 201
    header = trace_parts(traced.api.trace_headers[-1])
    handler = handler_of(entities)
    assert handler["trace_id"] == header["Root"]
    assert handler["parent_id"] == header["Parent"]
    assert handler["annotations"] == {"ColdStart": True, "Service": "cache-service"}


async def test_a_miss_traces_each_transformer_and_store_call_under_the_handler(
    start: Any, tmp_path: Path
) -> None:
    traced = await start(sqlite(tmp_path))
    answer, entities = await traced.invoke(post(PAYLOAD))
    assert answer["statusCode"] == 201
    handler = handler_of(entities)
    (transform,) = calls(entities, "transformer", "transform")
    assert transform["metadata"] == {"cache-service": {"keys": 6}}
    assert transform["namespace"] == "remote"  # a service of its own: a node on X-Ray's map
    store_calls = [
        *calls(entities, "sqlite", "get_many"),
        *calls(entities, "sqlite", "claim"),
        *calls(entities, "sqlite", "complete"),
    ]
    assert {span["namespace"] for span in store_calls} == {"local"}  # inside the process
    for span in [transform, *store_calls]:
        assert span["parent_id"] == handler["id"], span
        assert span["trace_id"] == handler["trace_id"]
        assert handler["start_time"] <= span["start_time"] <= span["end_time"]
        assert span["end_time"] <= handler["end_time"]
    # The payload is claimed and completed too, not only its strings.
    assert len(calls(entities, "sqlite", "claim")) >= 2
    assert len(calls(entities, "sqlite", "complete")) >= 2


async def test_concurrent_transformer_calls_are_sibling_subsegments(
    start: Any, tmp_path: Path
) -> None:
    # One string per call: six calls at once, in six asyncio tasks of one invocation.
    traced = await start({**sqlite(tmp_path), "CACHE_TRANSFORMER_BATCH_SIZE": "1"})
    answer, entities = await traced.invoke(post(PAYLOAD))
    assert answer["statusCode"] == 201
    handler = handler_of(entities)
    transforms = calls(entities, "transformer", "transform")
    assert len(transforms) == 6
    assert {call["parent_id"] for call in transforms} == {handler["id"]}
    # They did overlap: each started before the first one ended.
    first_end = min(call["end_time"] for call in transforms)
    assert all(call["start_time"] < first_end for call in transforms)


async def test_a_warm_invocation_is_a_new_trace_without_a_cold_start(
    start: Any, tmp_path: Path
) -> None:
    traced = await start(sqlite(tmp_path))
    posted, _ = await traced.invoke(post(PAYLOAD))
    location = json.loads(posted["body"])["id"]
    answer, entities = await traced.invoke(event_for("rest", "GET", f"/payload/{location}"))
    assert answer["statusCode"] == 200
    handler = handler_of(entities)
    assert handler["trace_id"] == trace_parts(traced.api.trace_headers[-1])["Root"]
    assert handler["annotations"]["ColdStart"] is False
    # A hit in the process's own memory calls nothing that is traced.
    assert [entity["name"] for entity in entities] == ["## handler"]


async def test_a_failed_transformer_call_is_a_fault_with_its_exception(
    start: Any, tmp_path: Path
) -> None:
    with socket.socket() as probe:  # a port nothing listens on: refused at once
        probe.bind(("127.0.0.1", 0))
        refused = f"http://127.0.0.1:{probe.getsockname()[1]}/transform"
    traced = await start(
        {**sqlite(tmp_path), "CACHE_TRANSFORMER_URL": refused, "CACHE_TRANSFORMER_RETRIES": "0"}
    )
    answer, entities = await traced.invoke(post(PAYLOAD))
    assert answer["statusCode"] == 502
    for call in calls(entities, "transformer", "transform"):
        assert call["fault"] is True
        (exception,) = call["cause"]["exceptions"]
        assert exception["type"] == "TransformerError"


async def test_redis_reads_writes_and_wakeups_are_traced(
    start: Any, tmp_path: Path, redis_server: RedisServer, redis_prefix: str
) -> None:
    traced = await start(
        {
            **sqlite(tmp_path),
            "CACHE_REDIS_URL": redis_server.url,
            "CACHE_REDIS_PREFIX": redis_prefix,
        }
    )
    answer, entities = await traced.invoke(post(PAYLOAD))
    assert answer["statusCode"] == 201
    handler = handler_of(entities)
    for operation in ("get_many", "set_many", "announce"):
        spans = calls(entities, "redis", operation)
        assert {span["parent_id"] for span in spans} == {handler["id"]}
        assert {span["namespace"] for span in spans} == {"remote"}


async def test_dynamodb_requests_are_traced_with_their_operation(
    start: Any, moto_server: MotoServer, dynamodb_table: str
) -> None:
    traced = await start(
        {
            "CACHE_STORE": "dynamodb",
            "CACHE_DYNAMODB_TABLE": dynamodb_table,
            "AWS_ENDPOINT_URL_DYNAMODB": moto_server.endpoint,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
        }
    )
    answer, entities = await traced.invoke(post(PAYLOAD))
    assert answer["statusCode"] == 201
    handler = handler_of(entities)
    assert calls(entities, "dynamodb", "claim")[0]["namespace"] == "local"
    # botocore's own subsegments, one per request, from the worker threads botocore runs in:
    # children of the function's segment (beside the handler's), in the invocation's trace.
    requests = [entity for entity in named(entities, "dynamodb") if "aws" in entity]
    operations = [request["aws"]["operation"] for request in requests]
    # At least a claim (PutItem) and a completion (UpdateItem) for each of 6 strings and the
    # payload (a retried request is one more).
    assert operations.count("PutItem") >= 7
    assert operations.count("UpdateItem") >= 7
    one_table = [request for request in requests if request["aws"]["operation"] != "BatchGetItem"]
    assert {request["aws"]["table_name"] for request in one_table} == {dynamodb_table}
    assert {request["trace_id"] for request in requests} == {handler["trace_id"]}
    assert {request["parent_id"] for request in requests} == {handler["parent_id"]}
    assert {request["namespace"] for request in requests} == {"aws"}


async def test_nothing_is_traced_when_tracing_is_disabled(start: Any, tmp_path: Path) -> None:
    traced = await start({**sqlite(tmp_path), "POWERTOOLS_TRACE_DISABLED": "true"})
    answer = await traced.function.invoke(post(PAYLOAD))
    assert answer["statusCode"] == 201
    assert traced.daemon.silent(1.0)


async def test_an_invalid_trace_switch_turns_tracing_off_and_still_serves(
    start: Any, tmp_path: Path
) -> None:
    # Powertools itself raises on such a value, which would fail every invocation.
    traced = await start({**sqlite(tmp_path), "POWERTOOLS_TRACE_DISABLED": "perhaps"})
    for _ in range(2):
        answer = await traced.function.invoke(post(PAYLOAD))
        assert answer["statusCode"] in (200, 201)
    assert traced.daemon.silent(1.0)


def in_lambda(
    daemon: Daemon, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, header: str | None
) -> Any:
    """An X-Ray recorder in this process as on Lambda, during an invocation with ``header``."""
    from aws_xray_sdk.core.recorder import AWSXRayRecorder

    monkeypatch.setenv("LAMBDA_TASK_ROOT", str(tmp_path))
    monkeypatch.setenv("AWS_XRAY_DAEMON_ADDRESS", daemon.address)
    if header is None:
        monkeypatch.delenv("_X_AMZN_TRACE_ID", raising=False)
    else:
        monkeypatch.setenv("_X_AMZN_TRACE_ID", header)
    return AWSXRayRecorder()


@pytest.fixture
def recorder(daemon: Daemon, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The recorder during a sampled invocation."""
    return in_lambda(daemon, tmp_path, monkeypatch, trace_header())


async def test_a_call_cut_off_by_its_deadline_is_a_fault(recorder: Any, daemon: Daemon) -> None:
    spans = XRaySpans(recorder)

    async def cut_off() -> None:
        async with asyncio.timeout(0.01):
            with spans.span("transformer", "transform", keys=1, remote=True):
                await asyncio.sleep(5)

    with recorder.in_subsegment("## handler"), pytest.raises(TimeoutError):
        await cut_off()
    (call,) = calls(daemon.entities(), "transformer", "transform")
    assert call["fault"] is True
    assert call["metadata"]["cache-service"]["cancelled"] is True


@pytest.mark.parametrize(
    "header",
    [None, trace_header().replace("Sampled=1", "Sampled=0")],
    ids=["no trace header", "not sampled"],
)
def test_nothing_is_sent_for_an_invocation_x_ray_does_not_sample(
    header: str | None, daemon: Daemon, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    recorder = in_lambda(daemon, tmp_path, monkeypatch, header)
    with XRaySpans(recorder).span("redis", "get_many", keys=1, remote=True):
        pass
    assert daemon.silent(0.5)


def test_a_span_still_open_when_the_invocation_ends_does_not_hold_back_the_handler(
    recorder: Any, daemon: Daemon
) -> None:
    spans = XRaySpans(recorder)
    with recorder.in_subsegment("## handler"):
        late = spans.span("dynamodb", "release", keys=1, remote=False)  # a claim let go after a 504
        late.__enter__()
    (handler,) = daemon.entities(timeout_s=2)
    assert handler["name"] == "## handler"
    late.__exit__(None, None, None)
    (span,) = daemon.entities(until_name="dynamodb", timeout_s=2)
    # What X-Ray needs to join a separately sent subsegment to its trace.
    assert span["type"] == "subsegment"
    assert span["parent_id"] == handler["id"]
    assert span["trace_id"] == handler["trace_id"]
