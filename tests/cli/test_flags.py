"""Each flag does what --help says, against a real service unless a fake must observe it."""

from __future__ import annotations

import json
from typing import Any

from cache_cli import version
from cache_cli.arguments import parse_settings
from tests.cli.conftest import fresh_payload, run_cli
from tests.cli.http_servers import ScriptedServer, TricklingServer
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
    order = ["min", "p50", "p90", "p95", "p99", "p99.9", "max"]
    assert set(latency) == {*order, "mean", "stddev"}
    assert [latency[name] for name in order] == sorted(latency[name] for name in order)
    assert latency["min"] <= latency["mean"] <= latency["max"]
    assert latency["stddev"] >= 0
    assert summary["endpoints"]["GET /payload/{id}"]["requests_per_s"] > 0
    assert summary["requests_per_s"] > 0


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


def test_fresh_shows_miss_then_hits_on_every_run(cli: Any, service: ServiceProcess) -> None:
    payload = json.dumps(fresh_payload())
    for _ in range(2):  # The same input, run twice: each run starts with a miss.
        summary = summary_of(cli, "-h", service.url, "-j", payload, "-r", "3", "--fresh")
        post = summary["endpoints"]["POST /payload"]
        assert (post["misses"], post["hits"]) == (1, 2)
        assert summary["first_vs_later"]["speedup"] is not None


def test_fresh_and_unique_exclude_each_other(cli: Any) -> None:
    outcome = cli("-j", json.dumps(fresh_payload()), "--fresh", "--unique")
    assert outcome.code == 2
    assert "at most one of --unique and --fresh" in outcome.err


def test_concurrency_keeps_n_requests_in_flight(cli: Any) -> None:
    with ScriptedServer(delay_s=0.05) as server:
        outcome = cli("-h", server.url, "-j", json.dumps(fresh_payload()), "-r", "12", "-c", "4")
    assert outcome.code == 0, outcome.err
    assert server.most_in_flight == 4


def test_concurrency_opens_exactly_n_connections_and_keeps_them(cli: Any) -> None:
    with ScriptedServer(delay_s=0.02) as server:
        outcome = cli(
            "-h",
            server.url,
            "-j",
            json.dumps(fresh_payload()),
            "-r",
            "41",
            "-c",
            "8",
            "--format",
            "json",
        )
    assert outcome.code == 0, outcome.err
    assert len(server.seen) == 82
    assert len({seen.client for seen in server.seen}) == 8  # One client port per connection.
    assert json.loads(outcome.out)["connections_opened"] == 8


def test_duration_repeats_the_payloads_until_the_time_is_up(cli: Any) -> None:
    with ScriptedServer(delay_s=0.01) as server:
        summary = summary_of(cli, "-h", server.url, "-j", json.dumps(fresh_payload()), "-z", "0.5s")
    assert summary["duration_limit_s"] == 0.5
    assert summary["endpoints"]["POST /payload"]["requests"] > 1  # Beyond -r's default of 1.
    assert summary["stopped"] is None


def test_rate_never_starts_more_than_q_requests_per_second(cli: Any) -> None:
    with ScriptedServer() as server:
        summary = summary_of(
            cli,
            "-h",
            server.url,
            "-j",
            json.dumps(fresh_payload()),
            "-z",
            "1s",
            "-q",
            "20",
            "-c",
            "4",
            "--no-get",
        )
    assert 1 <= summary["requests"] <= 21  # Evenly spaced: 20 in a second, one at its start.
    assert summary["rate_limit"] == 20


def test_duration_takes_units(cli: Any) -> None:
    assert parse_settings(["-j", "{}", "-z", "2m"]).duration == 120
    assert parse_settings(["-j", "{}", "-z", "500ms"]).duration == 0.5
    assert parse_settings(["-j", "{}", "-z", "30"]).duration == 30
    outcome = cli("-j", "{}", "-z", "soon")
    assert outcome.code == 2
    assert "-z/--duration (CACHE_CLI_DURATION)" in outcome.err


def test_concurrent_runs_against_the_service_stay_consistent(
    cli: Any, service: ServiceProcess
) -> None:
    payload = json.dumps(fresh_payload())
    summary = summary_of(cli, "-h", service.url, "-j", payload, "-r", "40", "-c", "8")
    assert summary["ok"] is True
    assert summary["distinct_ids"] == 1
    assert summary["endpoints"]["POST /payload"]["misses"] == 1


def test_timeout_bounds_a_request_that_never_answers(cli: Any) -> None:
    with ScriptedServer(delay_s=1.0) as server:
        outcome = cli("-h", server.url, "-j", json.dumps(fresh_payload()), "--timeout", "0.2")
    assert outcome.code == 1
    assert "timeout: no complete answer within 0.2 s" in outcome.err


def test_timeout_bounds_the_whole_answer_not_each_read(cli: Any) -> None:
    # A byte every 0.1 s for 4 s: no single read waits 0.5 s, the answer takes 4 s.
    with TricklingServer(length=40, gap_s=0.1) as server:
        outcome = cli("-h", server.url, "-j", json.dumps(fresh_payload()), "--timeout", "0.5")
    assert outcome.code == 1
    assert "timeout: no complete answer within 0.5 s" in outcome.err


def test_api_key_is_sent_as_x_api_key_on_every_request(cli: Any) -> None:
    with ScriptedServer() as server:
        outcome = cli("-h", server.url, "-j", json.dumps(fresh_payload()), "--api-key", "s3cret")
    assert outcome.code == 0, outcome.err
    assert [seen.headers.get("x-api-key") for seen in server.seen] == ["s3cret", "s3cret"]


def test_without_api_key_no_x_api_key_is_sent(cli: Any) -> None:
    with ScriptedServer() as server:
        cli("-h", server.url, "-j", json.dumps(fresh_payload()))
    assert all("x-api-key" not in seen.headers for seen in server.seen)


def test_header_flags_are_sent_on_every_request(cli: Any) -> None:
    with ScriptedServer() as server:
        outcome = cli(
            "-h",
            server.url,
            "-j",
            json.dumps(fresh_payload()),
            "-H",
            "Authorization: Bearer t0k3n",
            "-H",
            "X-Trace:  abc ",
        )
    assert outcome.code == 0, outcome.err
    for seen in server.seen:
        assert (seen.headers["authorization"], seen.headers["x-trace"]) == ("Bearer t0k3n", "abc")


def test_a_header_without_a_colon_is_a_usage_error(cli: Any) -> None:
    outcome = cli("-j", "{}", "-H", "Authorization Bearer x")
    assert outcome.code == 2
    assert "-H/--header (CACHE_CLI_HEADER): expected 'Name: value'" in outcome.err


def test_framing_headers_are_refused(cli: Any) -> None:
    outcome = cli("-j", "{}", "-H", "Content-Length: 3")
    assert outcome.code == 2
    assert "Content-Length is set by cache-cli itself" in outcome.err


def test_the_user_agent_is_cache_clis_own(cli: Any) -> None:
    with ScriptedServer() as server:
        cli("-h", server.url, "-j", json.dumps(fresh_payload()))
    assert {seen.headers["user-agent"] for seen in server.seen} == {f"cache-cli/{version()}"}


def test_a_header_flag_replaces_the_user_agent(cli: Any) -> None:
    with ScriptedServer() as server:
        cli("-h", server.url, "-j", json.dumps(fresh_payload()), "-H", "user-agent: probe/1")
    assert {seen.headers["user-agent"] for seen in server.seen} == {"probe/1"}


def test_version_prints_the_installed_version() -> None:
    outcome = run_cli("--version")
    assert outcome.code == 0
    assert outcome.out == f"cache-cli {version()}\n"


def test_format_table_is_the_default_human_summary(cli: Any, service: ServiceProcess) -> None:
    outcome = cli("-h", service.url, "-j", json.dumps(fresh_payload()), "-r", "2")
    assert outcome.code == 0
    for text in (
        "POST /payload",
        "GET /payload/{id}",
        "latency p99.9 (ms)",
        "latency stddev (ms)",
        "latency histogram",
        "status codes: 200 (3), 201 (1)",
        "errors: none",
        "speed-up",
    ):
        assert text in outcome.out
    assert "distinct ids: 1" in outcome.out
