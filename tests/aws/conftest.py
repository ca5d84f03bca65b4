"""A Lambda handler per test, invoked the way the Lambda runtime invokes it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from cache_service.aws.handler import LambdaHandler
from cache_service.settings import Settings
from infra.local.environment import LambdaAssets, Python312Missing, build_assets
from tests.aws.events import KINDS, event_for

# Small limits, so the limit tests stay small.
SETTINGS = {
    "store": "memory",
    "transformer_delay_ms": 0,
    "max_body_bytes": 4096,
    "max_items": 10,
}


class FakeContext:
    """The attributes of the Lambda context object that Mangum and the app may read."""

    function_name = "cache-service"
    function_version = "$LATEST"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:cache-service"
    memory_limit_in_mb = 512
    aws_request_id = "52fdfc07-2182-154f-163f-5f0f9a621d72"
    log_group_name = "/aws/lambda/cache-service"
    log_stream_name = "2026/11/25/[$LATEST]abcdef"
    identity = None
    client_context = None

    def get_remaining_time_in_millis(self) -> int:
        return 29_000


@dataclass
class Reply:
    """A Lambda proxy response, decoded."""

    raw: dict[str, Any]

    @property
    def status(self) -> int:
        return int(self.raw["statusCode"])

    @property
    def headers(self) -> dict[str, str]:
        return {key.lower(): value for key, value in (self.raw.get("headers") or {}).items()}

    @property
    def text(self) -> str:
        assert self.raw.get("isBase64Encoded") is False, "body left base64-encoded"
        return str(self.raw.get("body") or "")

    def json(self) -> Any:
        return json.loads(self.text)


@dataclass
class Invoker:
    """Sends events of one kind through one handler."""

    handler: LambdaHandler
    kind: str

    def __call__(
        self,
        method: str,
        path: str,
        *,
        headers: dict[str, str] | None = None,
        body: bytes | None = None,
        binary: bool = False,
    ) -> Reply:
        event = event_for(self.kind, method, path, headers=headers, body=body, binary=binary)
        return Reply(self.handler(event, FakeContext()))

    def post(self, document: Any) -> Reply:
        return self(
            "POST",
            "/payload",
            headers={"Content-Type": "application/json"},
            body=json.dumps(document).encode(),
        )


@pytest.fixture
def lambda_handler() -> Iterator[LambdaHandler]:
    """A fresh handler on the memory store; closed after the test."""
    handler = LambdaHandler(lambda: Settings.model_validate(SETTINGS))
    yield handler
    handler.close()


@pytest.fixture(params=KINDS)
def invoke(request: pytest.FixtureRequest, lambda_handler: LambdaHandler) -> Invoker:
    """An invoker for each event source: REST API, HTTP API, Function URL."""
    return Invoker(lambda_handler, request.param)


@pytest.fixture(scope="module")
def assets(tmp_path_factory: pytest.TempPathFactory) -> LambdaAssets:
    """The stack's layer and function folders for AWS's runtime client under CPython 3.12."""
    try:
        return build_assets(tmp_path_factory.mktemp("task"))
    except Python312Missing as exc:
        pytest.skip(str(exc))


#: A payload whose work ``hold_elsewhere`` claims as another process would.
HELD_ELSEWHERE = {"list_1": ["held"], "list_2": ["elsewhere"]}


def hold_elsewhere(handler: LambdaHandler) -> None:
    """Claim ``HELD_ELSEWHERE``'s payload in the handler's store for another process, for 60 s.

    The handler must have served an invocation (its app is built on the first one).
    """
    components: Any = handler.app.state.components  # type: ignore[union-attr]
    document = HELD_ELSEWHERE
    key = "payload:" + components.service.id_for(document["list_1"], document["list_2"])
    handler.loop.run_until_complete(  # type: ignore[union-attr]
        components.store.claim([key], "another-process", 60)
    )
