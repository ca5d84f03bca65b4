"""Cold and warm invocations: built once, lazily, on one loop; failures stay HTTP answers."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys

import pytest

from cache_service.aws import handler as aws
from cache_service.aws.handler import LambdaHandler
from cache_service.http.failures import INTERNAL_ERROR
from cache_service.settings import Settings
from tests.aws.conftest import SETTINGS, FakeContext, Invoker, Reply
from tests.aws.events import http_api_event, rest_event

DOCUMENT = {"list_1": ["warm"], "list_2": ["start"]}


def test_importing_the_module_builds_nothing() -> None:
    code = (
        "import sys, cache_service.aws.handler as m; "
        "print(m.handler.app is None, 'mangum' in sys.modules, 'botocore' in sys.modules, "
        "'redis' in sys.modules, 'cache_service.app' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True
    ).stdout.split()
    # No app, no Mangum, no AWS SDK, no Redis client until the first invocation needs them.
    assert out == ["True", "False", "False", "False", "False"]


def test_first_invocation_reads_settings_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CACHE_STORE", "memory")
    monkeypatch.setenv("CACHE_TRANSFORMER_DELAY_MS", "0")
    monkeypatch.setenv("CACHE_MAX_ITEMS", "1")
    handler = LambdaHandler()
    try:
        body = json.dumps({"list_1": ["a", "b"], "list_2": ["c", "d"]}).encode()
        event = rest_event(
            "POST", "/payload", headers={"Content-Type": "application/json"}, body=body
        )
        reply = Reply(handler(event, FakeContext()))
        assert reply.status == 422
        assert "CACHE_MAX_ITEMS" in reply.text
    finally:
        handler.close()


def test_module_handler_is_a_lambda_handler() -> None:
    assert isinstance(aws.handler, LambdaHandler)


def test_a_hundred_warm_invocations_reuse_one_app_and_one_loop(invoke: Invoker) -> None:
    first = invoke.post(DOCUMENT)
    app, loop = invoke.handler.app, invoke.handler.loop
    replies = [invoke("GET", f"/payload/{first.json()['id']}") for _ in range(100)]
    assert {reply.status for reply in replies} == {200}
    assert (invoke.handler.app, invoke.handler.loop) == (app, loop)
    assert {reply.headers["x-cache"] for reply in replies} == {"HIT"}


def test_invocations_survive_another_loop_being_set_and_closed_between_them(
    lambda_handler: LambdaHandler,
) -> None:
    invoke = Invoker(lambda_handler, "rest")
    invoke.post(DOCUMENT)
    # What a test runner or a library may do between two invocations.
    stray = asyncio.new_event_loop()
    asyncio.set_event_loop(stray)
    stray.close()
    assert invoke.post(DOCUMENT).status == 200


def test_an_exception_escaping_the_app_is_a_json_500_not_a_lambda_error(
    lambda_handler: LambdaHandler, monkeypatch: pytest.MonkeyPatch
) -> None:
    invoke = Invoker(lambda_handler, "http")
    invoke("GET", "/health")  # build the app
    assert lambda_handler.app is not None
    service = lambda_handler.app.state.components.service

    async def broken(id_: str) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(service, "fetch", broken)
    reply = invoke("GET", "/payload/" + "a" * 64)
    assert reply.status == 500
    assert reply.headers["content-type"] == "application/json"
    assert reply.json()["detail"] == INTERNAL_ERROR


def test_close_releases_the_loop() -> None:
    handler = LambdaHandler(lambda: Settings.model_validate(SETTINGS))
    Invoker(handler, "url")("GET", "/health")
    loop = handler.loop
    handler.close()
    assert loop is not None
    assert loop.is_closed()


def test_a_custom_domain_base_path_becomes_the_root_path(lambda_handler: LambdaHandler) -> None:
    event = rest_event("POST", "/payload", headers={"Content-Type": "application/json"})
    event["body"] = json.dumps(DOCUMENT)
    event["requestContext"]["path"] = "/cache/payload"  # base path mapping "cache"
    reply = Reply(lambda_handler(event, FakeContext()))
    assert reply.headers["location"].startswith("/cache/payload/")


def test_an_http_api_payload_1_0_event_on_a_named_stage_is_routed(
    lambda_handler: LambdaHandler,
) -> None:
    event = rest_event("GET", "/prod/health", stage="prod")
    event["version"] = "1.0"
    event["requestContext"]["path"] = "/prod/health"
    reply = Reply(lambda_handler(event, FakeContext()))
    assert reply.json() == {"status": "ok"}


def test_an_http_api_default_stage_has_no_prefix(lambda_handler: LambdaHandler) -> None:
    reply = Reply(lambda_handler(http_api_event("GET", "/docs"), FakeContext()))
    assert "'/openapi.json'" in reply.text


def test_invalid_settings_answer_a_json_500_and_log_the_variable(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("CACHE_MAX_ITEMS", "0")
    handler = LambdaHandler()
    try:
        reply = Reply(handler(http_api_event("GET", "/health"), FakeContext()))
        assert reply.status == 500
        assert "misconfigured" in reply.json()["detail"]
        assert "CACHE_MAX_ITEMS" in caplog.text
    finally:
        handler.close()


def test_the_minimal_event_the_readme_sends_to_the_emulator_is_served(
    lambda_handler: LambdaHandler,
) -> None:
    event = {
        "resource": "/health",
        "path": "/health",
        "httpMethod": "GET",
        "headers": {},
        "requestContext": {
            "stage": "prod",
            "path": "/prod/health",
            "httpMethod": "GET",
            "identity": {"sourceIp": "127.0.0.1"},
        },
        "body": None,
        "isBase64Encoded": False,
    }
    reply = Reply(lambda_handler(event, None))
    assert (reply.status, reply.json()) == (200, {"status": "ok"})
