"""Two Lambda environments (AWS's runtime client on the stack's assets) sharing one DynamoDB.

Environment A runs out of time on a hanging transformer and answers 504. Lambda then freezes
it (here: SIGSTOP, once it has answered) or it is killed outright (SIGKILL, mid-invocation).
Environment B asks for the same payload once the transformer is healthy again: A's claim
must not hold it up, whatever happened to A.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from infra.local.environment import LambdaAssets
from infra.local.runtime_api import InvocationFailed, LambdaFunction, RuntimeApi
from tests.aws.events import event_for
from tests.support.moto_process import MotoServer
from tests.support.transformer_server import TransformerServer

HANDLER = "cache_service.aws.handler.handler"
PAYLOAD = {"list_1": ["frozen"], "list_2": ["environment"]}
#: The stack's claim bounds: a claim expires 10 s after its last renewal.
CLAIM_TTL_S = 10


def _post() -> dict[str, Any]:
    return event_for(
        "rest",
        "POST",
        "/payload",
        headers={"content-type": "application/json"},
        body=json.dumps(PAYLOAD).encode(),
    )


async def _b_answers_201(b: LambdaFunction, transformer: TransformerServer, how: str) -> float:
    """B's answer to the same POST once the transformer is healthy; how long it took."""
    transformer.mode = "ok"
    started = time.monotonic()
    answer = await b.invoke(_post())
    took = time.monotonic() - started
    print(f"B answered {answer['statusCode']} after {took:.2f}s {how}")
    assert answer["statusCode"] == 201
    return took


@pytest.fixture
async def environments(
    assets: LambdaAssets,
    moto_server: MotoServer,
    dynamodb_table: str,
    transformer_server: TransformerServer,
) -> AsyncIterator[tuple[LambdaFunction, LambdaFunction]]:
    """A with a 3 s timeout, B with 20 s; both on one table and one transformer."""
    env = {
        **moto_server.env(dynamodb_table),
        "CACHE_TRANSFORMER_URL": transformer_server.url,
        "CACHE_TRANSFORMER_TIMEOUT_S": "20",
        "CACHE_TRANSFORMER_RETRIES": "0",
        "CACHE_CLAIM_TTL_S": str(CLAIM_TTL_S),
        "CACHE_CLAIM_WAIT_S": "15",
        "CACHE_BUDGET_MARGIN_S": "0.5",
    }
    apis = [await RuntimeApi(timeout_s=3).start(), await RuntimeApi(timeout_s=20).start()]
    a, b = [await LambdaFunction(assets, HANDLER, api, env).start() for api in apis]
    try:
        # Both warm: the app is built, so what is timed below is the request alone.
        for function in (a, b):
            health = await function.invoke(event_for("rest", "GET", "/health"))
            assert health["statusCode"] == 200
        yield a, b
    finally:
        for function in (a, b):
            if function.process is not None and function.process.returncode is None:
                function.process.send_signal(signal.SIGCONT)
            await function.stop()
        for api in apis:
            await api.stop()


async def test_an_environment_frozen_after_its_504_holds_up_no_other(
    environments: tuple[LambdaFunction, LambdaFunction], transformer_server: TransformerServer
) -> None:
    a, b = environments
    transformer_server.mode = "hang"
    answered = await a.invoke(_post())
    assert answered["statusCode"] == 504
    assert a.process is not None
    os.kill(a.process.pid, signal.SIGSTOP)  # Frozen, as Lambda freezes it once it answered.
    took = await _b_answers_201(b, transformer_server, "with A frozen")
    # A's claim was released before A's handler returned: B did not wait it out.
    assert took < CLAIM_TTL_S / 2


async def test_an_environment_killed_mid_invocation_holds_up_no_other_past_its_deadline(
    environments: tuple[LambdaFunction, LambdaFunction], transformer_server: TransformerServer
) -> None:
    a, b = environments
    transformer_server.mode = "hang"
    invocation = asyncio.create_task(a.invoke(_post()))
    await asyncio.sleep(1.0)  # A holds the claim, waiting on the transformer.
    assert a.process is not None
    os.kill(a.process.pid, signal.SIGKILL)
    with pytest.raises(InvocationFailed):
        await invocation
    took = await _b_answers_201(b, transformer_server, "with A killed")
    # A's claim expired with A's own invocation (3 s), not after the claim TTL.
    assert took < CLAIM_TTL_S / 2
