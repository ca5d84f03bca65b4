"""On Lambda: JSON log lines with the correlation id, EMF metrics flushed once per invocation."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest

from cache_service.aws.handler import LambdaHandler
from cache_service.aws.observability import EmfExport
from cache_service.metrics import Metrics
from cache_service.settings import Settings
from infra.function import POWERTOOLS_ENVIRONMENT
from tests.aws.conftest import HELD_ELSEWHERE, SETTINGS, Invoker, Reply, hold_elsewhere

NAMESPACE = "CacheServiceTest"
API_GATEWAY_REQUEST_ID = "c6af9ac6-7b61-11e6-9a41-93e8deadbeef"  # tests/aws/events.py


@pytest.fixture(autouse=True)
def powertools_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """What the stack sets in the function's environment."""
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "cache-service")
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", NAMESPACE)


def closed_port() -> int:
    """A local port nothing listens on: connecting to it is refused at once."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def failing_transformer() -> Iterator[Invoker]:
    """REST API events through a handler whose HTTP transformer refuses connections."""
    settings = {
        **SETTINGS,
        "transformer_url": f"http://127.0.0.1:{closed_port()}/transform",
        "transformer_retries": 0,
    }
    handler = LambdaHandler(lambda: Settings.model_validate(settings))
    yield Invoker(handler, "rest")
    handler.close()


def documents(out: str) -> list[dict[str, Any]]:
    """Every stdout line, parsed: each must be one JSON object."""
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def emf(out: str) -> dict[str, list[dict[str, Any]]]:
    """metric name -> the EMF documents that carry it."""
    found: dict[str, list[dict[str, Any]]] = {}
    for document in documents(out):
        if "_aws" not in document:
            continue
        for directive in document["_aws"]["CloudWatchMetrics"]:
            for metric in directive["Metrics"]:
                found.setdefault(metric["Name"], []).append(document)
    return found


def dimension_names(document: dict[str, Any]) -> list[str]:
    return sorted(document["_aws"]["CloudWatchMetrics"][0]["Dimensions"][0])


def post_quoting_an_id(invoke: Invoker) -> Reply:
    """A new payload, posted with the client's own ``X-Request-ID: client-id-1``."""
    return invoke(
        "POST",
        "/payload",
        headers={"Content-Type": "application/json", "X-Request-ID": "client-id-1"},
        body=json.dumps({"list_1": ["a"], "list_2": ["b"]}).encode(),
    )


def test_a_log_line_is_json_with_correlation_id_cold_start_and_request_id(
    failing_transformer: Invoker, capsys: pytest.CaptureFixture[str]
) -> None:
    reply = post_quoting_an_id(failing_transformer)
    assert reply.status == 502
    logs = [d for d in documents(capsys.readouterr().out) if "level" in d]
    error = next(d for d in logs if d["level"] == "ERROR")
    assert error["correlation_id"] == API_GATEWAY_REQUEST_ID
    assert error["cold_start"] is True
    assert error["request_id"] == "client-id-1"
    assert error["service"] == "cache-service"
    assert error["message"].startswith("502 for POST /prod/payload")


def test_only_the_first_invocation_is_a_cold_start(
    failing_transformer: Invoker, capsys: pytest.CaptureFixture[str]
) -> None:
    body = json.dumps({"list_1": ["a"], "list_2": ["b"]}).encode()
    headers = {"Content-Type": "application/json"}
    failing_transformer("POST", "/payload", headers=headers, body=body)
    capsys.readouterr()
    failing_transformer("POST", "/payload", headers=headers, body=body)
    logs = [d for d in documents(capsys.readouterr().out) if "level" in d]
    assert logs
    assert all(d["cold_start"] is False for d in logs)


def test_invalid_settings_are_logged_as_json(capsys: pytest.CaptureFixture[str]) -> None:
    handler = LambdaHandler(lambda: Settings.model_validate({"store": "nowhere"}))
    try:
        reply = Invoker(handler, "http")("GET", "/health")
    finally:
        handler.close()
    assert reply.status == 500
    error = next(d for d in documents(capsys.readouterr().out) if d.get("level") == "ERROR")
    assert "CACHE_STORE" in error["message"]
    assert error["cold_start"] is True


def test_without_a_namespace_set_the_metrics_go_where_the_stack_sends_them(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("POWERTOOLS_METRICS_NAMESPACE")
    handler = LambdaHandler(lambda: Settings.model_validate(SETTINGS))
    try:
        Invoker(handler, "rest")("GET", "/health")
    finally:
        handler.close()
    (cold,) = emf(capsys.readouterr().out)["ColdStart"]
    namespace = cold["_aws"]["CloudWatchMetrics"][0]["Namespace"]
    assert namespace == POWERTOOLS_ENVIRONMENT["POWERTOOLS_METRICS_NAMESPACE"] == "CacheService"


def test_requests_are_counted_by_route_status_and_cache_in_emf(
    lambda_handler: LambdaHandler, capsys: pytest.CaptureFixture[str]
) -> None:
    invoke = Invoker(lambda_handler, "rest")
    invoke.post({"list_1": ["a"], "list_2": ["b"]})
    requests = emf(capsys.readouterr().out)["Requests"]
    assert len(requests) == 1
    document = requests[0]
    assert document["_aws"]["CloudWatchMetrics"][0]["Namespace"] == NAMESPACE
    assert dimension_names(document) == ["cache", "route", "service", "status"]
    assert (document["route"], document["status"], document["cache"]) == (
        "POST /payload",
        "201",
        "MISS",
    )
    assert document["Requests"] == [1.0]


def test_a_hit_is_counted_with_its_cache_outcome(
    lambda_handler: LambdaHandler, capsys: pytest.CaptureFixture[str]
) -> None:
    invoke = Invoker(lambda_handler, "rest")
    invoke.post({"list_1": ["a"], "list_2": ["b"]})
    capsys.readouterr()
    invoke.post({"list_1": ["a"], "list_2": ["b"]})
    (document,) = emf(capsys.readouterr().out)["Requests"]
    assert (document["status"], document["cache"], document["Requests"]) == ("200", "HIT", [1.0])


def test_transformer_calls_and_strings_are_in_emf(
    lambda_handler: LambdaHandler, capsys: pytest.CaptureFixture[str]
) -> None:
    Invoker(lambda_handler, "rest").post({"list_1": ["a", "b"], "list_2": ["c", "a"]})
    found = emf(capsys.readouterr().out)
    (calls,) = found["TransformerCalls"]
    assert (calls["outcome"], calls["TransformerCalls"]) == ("ok", [1.0])
    (strings,) = found["TransformerStrings"]
    assert strings["TransformerStrings"] == [3.0]


def test_each_transformer_calls_duration_is_in_emf_in_milliseconds(
    lambda_handler: LambdaHandler, capsys: pytest.CaptureFixture[str]
) -> None:
    invoke = Invoker(lambda_handler, "rest")
    invoke.post({"list_1": ["one"], "list_2": ["call"]})
    invoke.post({"list_1": ["another"], "list_2": ["call"]})
    documents = emf(capsys.readouterr().out)["TransformerLatency"]
    values = [value for document in documents for value in document["TransformerLatency"]]
    units = {m["Unit"] for d in documents for m in d["_aws"]["CloudWatchMetrics"][0]["Metrics"]}
    assert len(values) == 2  # one per call, each invocation's in its own document
    assert all(value >= 0 for value in values)
    assert units == {"Milliseconds"}
    assert all(dimension_names(document) == ["service"] for document in documents)


def test_a_wait_on_work_another_process_holds_is_in_emf(
    capsys: pytest.CaptureFixture[str],
) -> None:
    handler = LambdaHandler(
        lambda: Settings.model_validate({**SETTINGS, "claim_wait_s": 0.3, "claim_ttl_s": 0.2})
    )
    invoke = Invoker(handler, "rest")
    try:
        invoke("GET", "/health")  # builds the app
        hold_elsewhere(handler)
        capsys.readouterr()
        assert invoke.post(HELD_ELSEWHERE).status == 503
    finally:
        handler.close()
    (waits,) = emf(capsys.readouterr().out)["SingleFlightWaits"]
    assert (waits["kind"], waits["SingleFlightWaits"]) == ("claimed elsewhere", [1.0])


def test_claim_lapses_and_damaged_values_are_in_emf() -> None:
    metrics = Metrics()
    export = EmfExport(metrics, namespace="CacheService", service="cache-service")
    metrics.count_lapsed(2)
    metrics.count_damaged(1)
    lines = export.lines(cold_start=False)
    assert export.lines(cold_start=False) == []  # Nothing moved since: nothing more.
    found = emf("\n".join(lines))
    assert [doc["ClaimsLapsed"] for doc in found["ClaimsLapsed"]] == [[2.0]]
    assert [doc["DamagedValues"] for doc in found["DamagedValues"]] == [[1.0]]


def test_cold_start_is_counted_once(
    lambda_handler: LambdaHandler, capsys: pytest.CaptureFixture[str]
) -> None:
    invoke = Invoker(lambda_handler, "url")
    invoke("GET", "/health")
    first = emf(capsys.readouterr().out)
    invoke("GET", "/health")
    second = emf(capsys.readouterr().out)
    assert [d["ColdStart"] for d in first["ColdStart"]] == [[1.0]]
    assert "ColdStart" not in second


def test_an_environment_initialised_by_provisioned_concurrency_has_no_cold_start(
    lambda_handler: LambdaHandler,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Its init ran before any request: the first invocation waits for none of it.
    monkeypatch.setenv("AWS_LAMBDA_INITIALIZATION_TYPE", "provisioned-concurrency")
    Invoker(lambda_handler, "url")("GET", "/health")
    out = capsys.readouterr().out
    assert "ColdStart" not in emf(out)
    logs = [d for d in documents(out) if "level" in d]
    assert logs
    assert all(d["cold_start"] is False for d in logs)


def test_a_warm_invocation_emits_only_what_it_counted(
    lambda_handler: LambdaHandler, capsys: pytest.CaptureFixture[str]
) -> None:
    invoke = Invoker(lambda_handler, "rest")
    invoke.post({"list_1": ["a"], "list_2": ["b"]})
    capsys.readouterr()
    invoke("GET", "/health")
    found = emf(capsys.readouterr().out)
    assert sorted(found) == ["Requests"]
    assert found["Requests"][0]["route"] == "GET /health"


def test_each_answer_has_one_access_line_with_every_key_the_other_lines_have(
    failing_transformer: Invoker,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # As Lambda sets it for each invocation: Powertools adds the root as ``xray_trace_id``.
    monkeypatch.setenv("_X_AMZN_TRACE_ID", "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=0")
    reply = post_quoting_an_id(failing_transformer)
    logs = [d for d in documents(capsys.readouterr().out) if "level" in d]
    (error,) = [d for d in logs if d["level"] == "ERROR"]
    (access,) = [d for d in logs if d["location"] == "access"]
    assert access["message"] == f"POST /prod/payload {reply.status}"
    assert access["level"] == "INFO"
    assert set(access) == set(error)
    same = (
        "service",
        "correlation_id",
        "cold_start",
        "function_request_id",
        "request_id",
        "xray_trace_id",
    )
    assert {key: access[key] for key in same} == {key: error[key] for key in same}
    # Powertools' timestamp, to the millisecond ("2026-11-26 00:07:16,978+0000"); the access
    # line leaves when the answer has been made, after the error line.
    written = {
        key: datetime.strptime(line["timestamp"], "%Y-%m-%d %H:%M:%S,%f%z")
        for key, line in (("access", access), ("error", error))
    }
    assert timedelta(0) <= written["access"] - written["error"] < timedelta(seconds=5)


def test_mangums_own_access_line_is_not_written_twice(
    lambda_handler: LambdaHandler, capsys: pytest.CaptureFixture[str]
) -> None:
    Invoker(lambda_handler, "rest")("GET", "/health")
    lines = [d for d in documents(capsys.readouterr().out) if "level" in d]
    assert [d["message"] for d in lines] == ["GET /prod/health 200"]


def test_no_access_line_is_written_below_info(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("POWERTOOLS_LOG_LEVEL", "WARNING")
    handler = LambdaHandler(lambda: Settings.model_validate(SETTINGS))
    try:
        assert Invoker(handler, "rest")("GET", "/health").status == 200
    finally:
        handler.close()
    out = capsys.readouterr().out
    assert not [d for d in documents(out) if "level" in d]
    assert emf(out)["Requests"], "the metrics are written all the same"


def test_a_misconfigured_function_still_logs_each_answer(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Nothing counts there, so nothing would write the service's access line: Mangum's stays.
    handler = LambdaHandler(lambda: Settings.model_validate({"store": "nowhere"}))
    try:
        Invoker(handler, "rest")("GET", "/health")
        Invoker(handler, "rest")("GET", "/health")
    finally:
        handler.close()
    infos = [d["message"] for d in documents(capsys.readouterr().out) if d.get("level") == "INFO"]
    assert infos == ["GET /health 500", "GET /health 500"]
