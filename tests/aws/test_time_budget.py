"""A miss is bounded by the invocation's remaining time: our 504 (or 503 for a waiter) comes
before the function is cut off, and the work it claimed is let go for the next request."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator

import pytest

from cache_service.aws.handler import LambdaHandler
from cache_service.settings import Settings
from tests.aws.conftest import HELD_ELSEWHERE, FakeContext, Reply, hold_elsewhere
from tests.aws.events import event_for
from tests.support.transformer_server import TransformerServer

DOCUMENT = {"list_1": ["slow"], "list_2": ["work"]}


class ContextWithLittleTime(FakeContext):
    def __init__(self, remaining_ms: int) -> None:
        self.remaining_ms = remaining_ms

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


@pytest.fixture
def slow_handler() -> Iterator[LambdaHandler]:
    """Transformer calls take 1.5 s; a request keeps 0.5 s back from its remaining time."""
    settings = {
        "store": "memory",
        "transformer_delay_ms": 1500,
        "budget_margin_s": 0.5,
        "claim_wait_s": 20,
        "claim_ttl_s": 10,
    }
    handler = LambdaHandler(lambda: Settings.model_validate(settings))
    yield handler
    handler.close()


def warm(handler: LambdaHandler) -> None:
    """A first invocation builds the app; later ones are what is measured."""
    handler(event_for("rest", "GET", "/health"), ContextWithLittleTime(20_000))


def post(
    handler: LambdaHandler, remaining_ms: int, document: dict[str, list[str]] = DOCUMENT
) -> tuple[Reply, float]:
    event = event_for(
        "rest",
        "POST",
        "/payload",
        headers={"Content-Type": "application/json"},
        body=json.dumps(document).encode(),
    )
    started = time.monotonic()
    reply = Reply(handler(event, ContextWithLittleTime(remaining_ms)))
    return reply, time.monotonic() - started


def test_a_miss_that_cannot_finish_in_time_is_our_504_before_the_invocation_ends(
    slow_handler: LambdaHandler,
) -> None:
    warm(slow_handler)
    reply, took = post(slow_handler, remaining_ms=1000)
    print(f"504 after {took:.2f}s of a 1.0 s invocation")
    assert reply.status == 504
    assert "detail" in reply.json()
    assert took < 1.0  # The invocation's end, not the transformer's 1.5 s.


def test_the_work_a_timed_out_request_claimed_is_free_for_the_next_one(
    slow_handler: LambdaHandler,
) -> None:
    post(slow_handler, remaining_ms=1000)
    reply, _ = post(slow_handler, remaining_ms=20_000)
    assert reply.status == 201
    assert reply.json()["output"] == "SLOW, WORK"


def test_an_http_transformer_that_hangs_is_cut_off_by_the_invocation_not_its_retries(
    transformer_server: TransformerServer,
) -> None:
    # The case: 10 s per attempt and 3 retries would outlive a 28 s function.
    transformer_server.mode = "hang"
    settings = {
        "store": "memory",
        "transformer_url": transformer_server.url,
        "transformer_timeout_s": 10,
        "transformer_retries": 3,
        "budget_margin_s": 0.5,
    }
    handler = LambdaHandler(lambda: Settings.model_validate(settings))
    try:
        warm(handler)
        reply, took = post(handler, remaining_ms=2000)
    finally:
        handler.close()
    print(f"{reply.status} after {took:.2f}s of a 2.0 s invocation")
    assert reply.status == 504
    assert took < 2.0


def test_a_claim_expiry_past_the_function_timeout_is_logged_at_the_first_invocation(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # The service's own default (20 s) against a 15 s function: a deployment outside the stack.
    handler = LambdaHandler(lambda: Settings.model_validate({"store": "memory"}))
    try:
        handler(event_for("rest", "GET", "/health"), ContextWithLittleTime(15_000))
    finally:
        handler.close()
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.strip()]
    warnings = [line["message"] for line in lines if line.get("level") == "WARNING"]
    assert any(message.startswith("CACHE_CLAIM_TTL_S=20 ") for message in warnings), warnings


def test_a_waiter_on_another_process_s_work_answers_503_before_its_invocation_ends() -> None:
    settings = {"store": "memory", "transformer_delay_ms": 0, "budget_margin_s": 0.5}
    handler = LambdaHandler(lambda: Settings.model_validate(settings))
    try:
        warm(handler)
        hold_elsewhere(handler)
        reply, took = post(handler, remaining_ms=1200, document=HELD_ELSEWHERE)
    finally:
        handler.close()
    print(f"waiter answered {reply.status} after {took:.2f}s of a 1.2 s invocation")
    assert reply.status == 503
    assert "retry-after" in reply.headers
    assert took < 1.2


def test_without_a_lambda_context_nothing_bounds_the_request_but_its_own_limits() -> None:
    # The local server has no invocation deadline: a slow miss simply finishes.
    settings = Settings.model_validate({"store": "memory", "transformer_delay_ms": 50})
    from cache_service.app import build_components

    async def run() -> bool:
        components = build_components(settings)
        try:
            return (await components.service.submit(["a"], ["b"])).created
        finally:
            await components.aclose()

    assert asyncio.run(run())
