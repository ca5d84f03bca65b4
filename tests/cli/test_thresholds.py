"""--fail-if: conditions on the run's numbers that fail it with exit code 3."""

from __future__ import annotations

import json
from typing import Any

import pytest

from cache_cli.thresholds import parse_threshold
from tests.cli.conftest import Outcome, fresh_payload
from tests.cli.http_servers import Answer, ScriptedServer


@pytest.mark.parametrize(
    ("text", "metric", "op", "limit"),
    [
        ("p99>50ms", "p99", ">", 50.0),
        ("p99.9 >= 1.5s", "p99.9", ">=", 1500.0),
        ("mean<800us", "mean", "<", 0.8),
        ("p50>20", "p50", ">", 20.0),  # Latency without a unit is in ms.
        ("errors>0", "errors", ">", 0.0),
        ("error_rate>1.5%", "error_rate", ">", 1.5),
        ("rps<500", "rps", "<", 500.0),
    ],
)
def test_conditions_are_read_into_the_metrics_own_unit(
    text: str, metric: str, op: str, limit: float
) -> None:
    threshold = parse_threshold(text)
    assert (threshold.metric, threshold.op, threshold.limit) == (metric, op, limit)


@pytest.mark.parametrize("text", ["p99", "latency>5ms", "p99>fast", "errors>1ms", "rps<5%"])
def test_an_unreadable_condition_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="cannot read"):
        parse_threshold(text)


def test_a_value_that_could_not_be_measured_fails_the_condition() -> None:
    assert parse_threshold("p99>50ms").crossed(None)


def against_a_good_server(cli: Any, *flags: str) -> Outcome:
    """A run whose every request succeeds, with ``flags``."""
    with ScriptedServer() as server:
        outcome: Outcome = cli("-h", server.url, "-j", json.dumps(fresh_payload()), *flags)
    return outcome


def test_a_condition_met_exits_3_naming_it(cli: Any) -> None:
    outcome = against_a_good_server(cli, "--fail-if", "p50>0ms")
    assert outcome.code == 3
    assert "cache-cli: fail if p50>0ms: met" in outcome.err
    assert "fail if p50>0ms: YES, failed" in outcome.out


def test_conditions_not_met_exit_0(cli: Any) -> None:
    outcome = against_a_good_server(cli, "--fail-if", "errors>0", "--fail-if", "p99>60s")
    assert outcome.code == 0, outcome.err
    assert "fail if errors>0: no (0)" in outcome.out


def test_failed_requests_outrank_a_condition(cli: Any) -> None:
    with ScriptedServer(lambda *_: Answer(500, {"detail": "boom"})) as server:
        outcome = cli("-h", server.url, "-j", "{}", "--fail-if", "error_rate>50%")
    assert outcome.code == 1
    assert "requests failed" in outcome.err


def test_the_summary_reports_each_condition(cli: Any) -> None:
    outcome = against_a_good_server(cli, "--fail-if", "rps<1000000", "--format", "json")
    assert outcome.code == 3
    [condition] = json.loads(outcome.out)["fail_if"]
    assert condition["fail_if"] == "rps<1000000"
    assert condition["failed"] is True
    assert condition["value"] > 0


def test_an_unreadable_condition_exits_2(cli: Any) -> None:
    outcome = cli("-j", "{}", "--fail-if", "p99 is slow")
    assert outcome.code == 2
    assert "--fail-if (CACHE_CLI_FAIL_IF): cannot read" in outcome.err
