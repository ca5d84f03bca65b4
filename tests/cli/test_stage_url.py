"""A base URL with a path (an API Gateway stage) keeps its path for every request."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from cache_cli.target import Target
from tests.cli.conftest import fresh_payload
from tests.cli.http_servers import StageProxy
from tests.support.processes import ServiceProcess


@pytest.fixture
def stage(service: ServiceProcess) -> Iterator[StageProxy]:
    """The service reachable only under /prod, as behind an API Gateway stage."""
    with StageProxy(service.url, stage="prod") as proxy:
        yield proxy


def test_every_request_goes_under_the_stage_path(cli: Any, stage: StageProxy) -> None:
    outcome = cli("-h", f"{stage.url}/prod", "-j", json.dumps(fresh_payload()), "-r", "2")
    assert outcome.code == 0, outcome.err
    paths = [seen.path for seen in stage.seen]
    assert len(paths) == 4
    assert all(path.startswith("/prod/payload") for path in paths)


def test_a_trailing_slash_on_the_stage_url_is_harmless(cli: Any, stage: StageProxy) -> None:
    outcome = cli("-h", f"{stage.url}/prod/", "-j", json.dumps(fresh_payload()))
    assert outcome.code == 0, outcome.err
    assert stage.seen[0].path == "/prod/payload"


def test_the_stage_proxy_refuses_paths_outside_the_stage(cli: Any, stage: StageProxy) -> None:
    outcome = cli("-h", stage.url, "-j", json.dumps(fresh_payload()))
    assert outcome.code == 1
    assert "HTTP 403" in outcome.err


def test_an_api_gateway_url_keeps_its_stage() -> None:
    target = Target.parse("https://abc123.execute-api.eu-west-1.amazonaws.com/prod/")
    assert (target.tls, target.port, target.authority) == (
        True,
        443,
        "abc123.execute-api.eu-west-1.amazonaws.com",
    )
    assert target.payload_path == "/prod/payload"
    assert target.item_path("f" * 64) == "/prod/payload/" + "f" * 64
