"""The handler in AWS's runtime client (CPython 3.12, the stack's assets), behind a local stage.

``make lambda-local`` runs ``infra.local.front``; these tests start that same command
and talk to it over HTTP, and drive the Runtime API emulator directly for what a front hides.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from infra.local.environment import LambdaAssets
from infra.local.runtime_api import InvocationFailed, LambdaFunction, RuntimeApi
from tests.aws.events import event_for
from tests.support.processes import free_port, wait_for_http

ROOT = Path(__file__).resolve().parents[2]
HANDLER = "cache_service.aws.handler.handler"


@pytest.fixture(scope="module")
def front(assets: LambdaAssets, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``python -m infra.local.front`` on a free port: the stage URL."""
    port = free_port()
    log = tmp_path_factory.mktemp("front") / "front.log"
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("CACHE_", "AWS_"))}
    environment["CACHE_TRANSFORMER_DELAY_MS"] = "0"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "infra.local.front", "--port", str(port)],
            cwd=ROOT,
            env=environment,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_for_http(f"http://127.0.0.1:{port}/prod/health", timeout_s=90, process=process)
        yield f"http://127.0.0.1:{port}/prod"
    finally:
        process.terminate()
        process.wait(timeout=30)
        print(log.read_text(errors="replace")[-2000:])


def test_a_post_then_a_get_through_the_stage_reach_the_same_result(front: str) -> None:
    payload = {"list_1": ["lambda", "front"], "list_2": ["runtime", "client"]}
    with httpx.Client(timeout=30) as client:
        posted = client.post(f"{front}/payload", json=payload)
        assert posted.status_code == 201, posted.text
        # The stage prefix survives into Location, as behind API Gateway.
        assert posted.headers["location"].startswith("/prod/payload/")
        got = client.get(f"http://127.0.0.1:{httpx.URL(front).port}{posted.headers['location']}")
    assert got.status_code == 200
    assert got.json() == posted.json()
    assert got.json()["output"] == "LAMBDA, RUNTIME, FRONT, CLIENT"


def test_cache_cli_pointed_at_the_stage_checks_the_service(front: str) -> None:
    payload = json.dumps({"list_1": ["cli"], "list_2": ["stage"]})
    run = subprocess.run(
        [sys.executable, "-m", "cache_cli", "-h", front, "-j", payload, "-r", "3"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stdout + run.stderr


def test_a_path_outside_the_stage_is_refused_as_api_gateway_does(front: str) -> None:
    outside = front.removesuffix("/prod") + "/health"
    response = httpx.get(outside, timeout=30)
    assert response.status_code == 403
    assert response.json() == {"message": "Missing Authentication Token"}


async def test_an_event_the_handler_cannot_serve_comes_back_as_a_function_error(
    assets: LambdaAssets,
) -> None:
    api = await RuntimeApi(timeout_s=90).start()
    function = await LambdaFunction(assets, HANDLER, api, {"CACHE_STORE": "memory"}).start()
    try:
        with pytest.raises(InvocationFailed, match="errorMessage"):
            await function.invoke({"neither": "API Gateway nor a function URL"})
        # The environment survives a failed invocation, as on Lambda.
        answer = await function.invoke(event_for("rest", "GET", "/health"))
        assert answer["statusCode"] == 200
    finally:
        await function.stop()
        await api.stop()


async def test_a_process_that_dies_fails_its_invocation_instead_of_hanging(
    assets: LambdaAssets,
) -> None:
    api = await RuntimeApi(timeout_s=90).start()
    function = LambdaFunction(assets, "no_such_module.handler", api, {})
    await function.start()
    try:
        # awslambdaric reports the import error to /init/error and then exits.
        with pytest.raises(InvocationFailed):
            await function.invoke(event_for("rest", "GET", "/health"))
        assert api.init_error is not None
        assert b"no_such_module" in api.init_error
    finally:
        await function.stop()
        await api.stop()


def test_a_stage_cached_get_carries_nothing_of_another_callers_request(front: str) -> None:
    """The stage cache replays an answer, headers included, to later callers: a GET by id
    carries no X-Request-ID and no X-Cache-Tier from the function; each caller gets its own
    x-amzn-RequestId from the stage. A POST, never cached, still echoes the caller's id."""
    payload = {"list_1": ["stage"], "list_2": ["cached"]}
    with httpx.Client(timeout=30) as client:
        posted = client.post(f"{front}/payload", json=payload, headers={"X-Request-ID": "poster"})
        url = f"{front}/payload/{posted.json()['id']}"
        first = client.get(url, headers={"X-Request-ID": "first-caller"})
        second = client.get(url, headers={"X-Request-ID": "second-caller"})

    assert posted.headers["x-request-id"] == "poster"
    assert second.headers.get("x-local-stage-cache") == "hit"  # replayed, not invoked
    assert second.json() == first.json()
    for answer in (first, second):
        assert "x-request-id" not in answer.headers
        assert "x-cache-tier" not in answer.headers
    assert first.headers["x-amzn-requestid"] != second.headers["x-amzn-requestid"]
