"""Each flag does what --help says, against a real service unless a fake must observe it."""

from __future__ import annotations

import json
import time
from typing import Any

from cache_cli.arguments import parse_settings
from tests.cli.conftest import fresh_payload
from tests.cli.http_servers import ScriptedServer
from tests.support.processes import ServiceProcess


def summary_of(cli: Any, *args: str) -> dict[str, Any]:
    outcome = cli(*args, "--format", "json")
    assert outcome.code == 0, outcome.err
    summary: dict[str, Any] = json.loads(outcome.out)
    return summary


def test_host_defaults_to_localhost_8000() -> None:
    assert parse_settings(["-j", "{}"]).host == "http://localhost:8000"


def test_repeat_sends_the_payload_n_times_and_only_the_first_is_a_miss(
    cli: Any, service: ServiceProcess
) -> None:
    summary = summary_of(cli, "-h", service.url, "-j", json.dumps(fresh_payload()), "-r", "4")
    post = summary["endpoints"]["POST /payload"]
    assert (post["requests"], post["misses"], post["hits"]) == (4, 1, 3)
    assert summary["endpoints"]["GET /payload/{id}"]["requests"] == 4
    assert summary["distinct_ids"] == 1


def test_the_first_call_is_compared_with_the_later_calls(cli: Any, service: ServiceProcess) -> None:
    summary = summary_of(cli, "-h", service.url, "-j", json.dumps(fresh_payload()), "-r", "5")
    cached = summary["first_vs_later"]
    assert (cached["first_calls"], cached["later_calls"]) == (1, 4)
    # The service sleeps 30 ms per miss; a hit does not.
    assert cached["first_p50_ms"] >= 30 > cached["later_p50_ms"]
    assert cached["speedup"] > 1


def test_every_latency_percentile_is_reported(cli: Any, service: ServiceProcess) -> None:
    summary = summary_of(cli, "-h", service.url, "-j", json.dumps(fresh_payload()), "-r", "3")
    latency = summary["endpoints"]["GET /payload/{id}"]["latency_ms"]
    assert list(latency) == ["min", "p50", "p90", "p99", "max"]
    assert latency["min"] <= latency["p50"] <= latency["p90"] <= latency["p99"] <= latency["max"]
    assert summary["endpoints"]["GET /payload/{id}"]["requests_per_s"] > 0


def test_no_get_only_posts(cli: Any, service: ServiceProcess) -> None:
    summary = summary_of(
        cli, "-h", service.url, "-j", json.dumps(fresh_payload()), "-r", "2", "--no-get"
    )
    assert list(summary["endpoints"]) == ["POST /payload"]
    assert summary["endpoints"]["POST /payload"]["requests"] == 2


def test_unique_makes_every_repeat_a_miss_with_its_own_id(
    cli: Any, service: ServiceProcess
) -> None:
    payload = json.dumps(fresh_payload())
    summary = summary_of(cli, "-h", service.url, "-j", payload, "-r", "3", "--unique")
    assert summary["endpoints"]["POST /payload"]["misses"] == 3
    assert summary["distinct_ids"] == 3


def test_unique_misses_again_on_a_second_run(cli: Any, service: ServiceProcess) -> None:
    payload = json.dumps(fresh_payload())
    summary_of(cli, "-h", service.url, "-j", payload, "--unique")
    summary = summary_of(cli, "-h", service.url, "-j", payload, "--unique")
    assert summary["endpoints"]["POST /payload"]["misses"] == 1


def test_unique_needs_a_string_to_vary(cli: Any) -> None:
    outcome = cli("-j", '{"list_1": [], "list_2": []}', "--unique")
    assert outcome.code == 2
    assert "--unique needs" in outcome.err


def test_concurrency_keeps_n_requests_in_flight(cli: Any) -> None:
    with ScriptedServer(delay_s=0.05) as server:
        outcome = cli("-h", server.url, "-j", json.dumps(fresh_payload()), "-r", "12", "-c", "4")
    assert outcome.code == 0, outcome.err
    assert server.most_in_flight == 4


def test_concurrent_runs_against_the_service_stay_consistent(
    cli: Any, service: ServiceProcess
) -> None:
    payload = json.dumps(fresh_payload())
    summary = summary_of(cli, "-h", service.url, "-j", payload, "-r", "40", "-c", "8")
    assert summary["ok"] is True
    assert summary["distinct_ids"] == 1
    assert summary["endpoints"]["POST /payload"]["misses"] == 1


def test_timeout_bounds_each_request(cli: Any) -> None:
    with ScriptedServer(delay_s=1.0) as server:
        started = time.monotonic()
        outcome = cli("-h", server.url, "-j", json.dumps(fresh_payload()), "--timeout", "0.2")
    assert time.monotonic() - started < 1.0
    assert outcome.code == 1
    assert "ReadTimeout" in outcome.err


def test_api_key_is_sent_as_x_api_key_on_every_request(cli: Any) -> None:
    with ScriptedServer() as server:
        outcome = cli("-h", server.url, "-j", json.dumps(fresh_payload()), "--api-key", "s3cret")
    assert outcome.code == 0, outcome.err
    assert [seen.headers.get("x-api-key") for seen in server.seen] == ["s3cret", "s3cret"]


def test_without_api_key_no_x_api_key_is_sent(cli: Any) -> None:
    with ScriptedServer() as server:
        cli("-h", server.url, "-j", json.dumps(fresh_payload()))
    assert all("x-api-key" not in seen.headers for seen in server.seen)


def test_format_table_is_the_default_human_summary(cli: Any, service: ServiceProcess) -> None:
    outcome = cli("-h", service.url, "-j", json.dumps(fresh_payload()), "-r", "2")
    assert outcome.code == 0
    for text in ("POST /payload", "GET /payload/{id}", "latency p99 (ms)", "speed-up"):
        assert text in outcome.out
    assert "distinct ids: 1" in outcome.out
