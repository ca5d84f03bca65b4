"""Exit codes and stderr, from a separate process as a shell or CI job sees them."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli.conftest import fresh_payload, run_cli, run_on_a_terminal
from tests.cli.http_servers import FAKE_ID, Answer, ScriptedServer
from tests.support.processes import ServiceProcess, free_port


def assert_one_line_error(err: str) -> None:
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert err.startswith("cache-cli: ")


def test_a_consistent_run_exits_0_with_the_summary_on_stdout_and_nothing_on_stderr(
    service: ServiceProcess,
) -> None:
    outcome = run_cli("-h", service.url, "-j", json.dumps(fresh_payload()), "-r", "3")
    assert outcome.code == 0
    assert "checks: consistent" in outcome.out
    assert outcome.err == ""  # Not a terminal: no progress bar either.


def test_invalid_json_exits_2_with_one_line() -> None:
    outcome = run_cli("-j", '{"list_1": [')
    assert outcome.code == 2
    assert_one_line_error(outcome.err)
    assert "invalid JSON" in outcome.err


def test_an_unreadable_input_file_exits_2(tmp_path: Path) -> None:
    outcome = run_cli("-i", str(tmp_path / "missing.json"))
    assert outcome.code == 2
    assert_one_line_error(outcome.err)
    assert "cannot read" in outcome.err


def test_neither_input_nor_json_exits_2() -> None:
    outcome = run_cli()
    assert outcome.code == 2
    assert_one_line_error(outcome.err)
    assert "exactly one of -i/--input, -j/--json and --warm" in outcome.err


def test_both_input_and_json_exits_2(tmp_path: Path) -> None:
    file = tmp_path / "payload.json"
    file.write_text(json.dumps(fresh_payload()))
    outcome = run_cli("-i", str(file), "-j", json.dumps(fresh_payload()))
    assert outcome.code == 2
    assert "exactly one of" in outcome.err


def test_an_invalid_url_exits_2() -> None:
    outcome = run_cli("-h", "localhost:8000", "-j", "{}")
    assert outcome.code == 2
    assert_one_line_error(outcome.err)
    assert "invalid URL" in outcome.err


def test_an_invalid_flag_value_exits_2_naming_flag_and_variable() -> None:
    outcome = run_cli("-r", "many", "-j", "{}")
    assert outcome.code == 2
    assert_one_line_error(outcome.err)
    assert "--repeat (CACHE_CLI_REPEAT)" in outcome.err


def test_an_unknown_flag_exits_2() -> None:
    outcome = run_cli("--verbose", "-j", "{}")
    assert outcome.code == 2
    assert_one_line_error(outcome.err)


def test_an_unreachable_host_exits_1_with_one_line() -> None:
    host = f"http://127.0.0.1:{free_port()}"  # Nothing listens there.
    outcome = run_cli("-h", host, "-j", json.dumps(fresh_payload()), "-r", "50")
    assert outcome.code == 1
    assert_one_line_error(outcome.err)
    assert f"cannot reach {host}" in outcome.err


def test_a_server_answering_500_exits_1_naming_the_status() -> None:
    with ScriptedServer(lambda *_: Answer(500, {"detail": "boom"})) as server:
        outcome = run_cli("-h", server.url, "-j", json.dumps(fresh_payload()), "-r", "2")
    assert outcome.code == 1
    assert "Traceback" not in outcome.err
    assert "2 of 2 requests failed (first: POST /payload: HTTP 500: boom)" in outcome.err
    assert "errors" in outcome.out  # The summary still shows what happened.


def test_a_payload_the_service_refuses_exits_1_with_its_reason(service: ServiceProcess) -> None:
    outcome = run_cli("-h", service.url, "-j", '{"list_1": ["a"]}')
    assert outcome.code == 1
    assert "HTTP 422: body.list_2: Field required" in outcome.err


def test_a_get_that_disagrees_with_its_post_exits_1_as_an_inconsistency() -> None:
    def lying_get(method: str, path: str, calls: int) -> Answer:
        if method == "GET":
            return Answer(200, {"id": FAKE_ID, "output": ["something else"]}, {"X-Cache": "HIT"})
        return Answer(201, {"id": FAKE_ID, "output": ["A"]}, {"X-Cache": "MISS"})

    with ScriptedServer(lying_get) as server:
        outcome = run_cli("-h", server.url, "-j", json.dumps(fresh_payload()))
    assert outcome.code == 1
    assert "inconsistencies" in outcome.err
    assert "answered an output the POST did not" in outcome.err


def test_a_payload_that_changes_id_exits_1_as_an_inconsistency() -> None:
    def new_id_each_time(method: str, path: str, calls: int) -> Answer:
        return Answer(201, {"id": f"{calls:064x}", "output": ["A"]}, {"X-Cache": "MISS"})

    with ScriptedServer(new_id_each_time) as server:
        payload = json.dumps(fresh_payload())
        outcome = run_cli("-h", server.url, "-j", payload, "-r", "2", "--no-get")
    assert outcome.code == 1
    assert "the same payload got two ids" in outcome.err


def test_a_status_that_contradicts_x_cache_exits_1() -> None:
    def hit_with_201(method: str, path: str, calls: int) -> Answer:
        return Answer(201, {"id": FAKE_ID, "output": ["A"]}, {"X-Cache": "HIT"})

    with ScriptedServer(hit_with_201) as server:
        outcome = run_cli("-h", server.url, "-j", json.dumps(fresh_payload()), "--no-get")
    assert outcome.code == 1
    assert "POST answered 201 with X-Cache HIT, not MISS" in outcome.err


def test_help_is_double_dash_only_and_documents_exit_codes() -> None:
    outcome = run_cli("--help")
    assert outcome.code == 0
    assert "-h URL, --host URL" in outcome.out
    assert "Exit codes: 0" in outcome.out
    assert ".jsonl" in outcome.out


def test_a_terminal_gets_a_progress_bar_on_stderr(service: ServiceProcess) -> None:
    done, drawn = run_on_a_terminal("-h", service.url, "-r", "3", "-j", json.dumps(fresh_payload()))
    assert done.returncode == 0
    assert "requests" in drawn
    assert "3/3" in drawn
