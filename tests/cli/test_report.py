"""-o: a machine-readable report, JSON or JSON Lines, to a file or to stdout."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.cli.conftest import fresh_payload, run_cli
from tests.cli.http_servers import FAKE_ID, Answer, ScriptedServer
from tests.support.processes import ServiceProcess, free_port

RECORD_FIELDS = {
    "iteration",
    "payload",
    "endpoint",
    "status",
    "latency_ms",
    "cache",
    "id",
    "error",
    "failed_checks",
}


def test_output_file_holds_the_summary_and_one_record_per_request(
    cli: Any, service: ServiceProcess, tmp_path: Path
) -> None:
    report_path = tmp_path / "report.json"
    outcome = cli(
        "-h", service.url, "-j", json.dumps(fresh_payload()), "-r", "2", "-o", str(report_path)
    )
    assert outcome.code == 0, outcome.err
    report = json.loads(report_path.read_text())
    assert report["summary"]["ok"] is True
    records = report["requests"]
    assert [
        (r["endpoint"], r["status"], r["cache"])
        for r in sorted(records, key=lambda r: (r["iteration"], r["endpoint"] != "POST /payload"))
    ] == [
        ("POST /payload", 201, "MISS"),
        ("GET /payload/{id}", 200, "HIT"),
        ("POST /payload", 200, "HIT"),
        ("GET /payload/{id}", 200, "HIT"),
    ]
    assert all(set(r) == RECORD_FIELDS for r in records)
    assert len({r["id"] for r in records}) == 1


def test_a_jsonl_output_file_has_one_request_per_line_and_the_summary_last(
    cli: Any, service: ServiceProcess, tmp_path: Path
) -> None:
    report_path = tmp_path / "report.jsonl"
    cli("-h", service.url, "-j", json.dumps(fresh_payload()), "-r", "3", "-o", str(report_path))
    lines = [json.loads(line) for line in report_path.read_text().splitlines()]
    assert [line["type"] for line in lines] == ["request"] * 6 + ["summary"]
    assert lines[-1]["endpoints"]["POST /payload"]["requests"] == 3


def test_output_dash_streams_json_lines_on_stdout_and_the_summary_on_stderr(
    service: ServiceProcess,
) -> None:
    outcome = run_cli("-h", service.url, "-j", json.dumps(fresh_payload()), "-r", "2", "-o", "-")
    assert outcome.code == 0
    lines = [json.loads(line) for line in outcome.out.splitlines()]
    assert [line["type"] for line in lines] == ["request"] * 4 + ["summary"]
    assert "checks: consistent" in outcome.err


def test_format_json_prints_the_summary_as_json(cli: Any, service: ServiceProcess) -> None:
    outcome = cli("-h", service.url, "-j", json.dumps(fresh_payload()), "--format", "json")
    summary = json.loads(outcome.out)
    assert set(summary["endpoints"]) == {"POST /payload", "GET /payload/{id}"}
    assert summary["inconsistencies"] == []


def test_a_failed_request_is_recorded_with_its_status_and_error(cli: Any, tmp_path: Path) -> None:
    report_path = tmp_path / "report.json"
    with ScriptedServer(lambda *_: Answer(500, {"detail": "boom"})) as server:
        outcome = cli("-h", server.url, "-j", "{}", "-o", str(report_path))
    assert outcome.code == 1
    [record] = json.loads(report_path.read_text())["requests"]
    assert (record["status"], record["error"], record["id"]) == (500, "HTTP 500: boom", None)


def test_a_failed_check_is_recorded_on_the_request_that_failed_it(cli: Any, tmp_path: Path) -> None:
    def lying_get(method: str, path: str, calls: int) -> Answer:
        if method == "GET":
            return Answer(200, {"id": FAKE_ID, "output": ["B"]}, {"X-Cache": "HIT"})
        return Answer(201, {"id": FAKE_ID, "output": ["A"]}, {"X-Cache": "MISS"})

    report_path = tmp_path / "report.jsonl"
    with ScriptedServer(lying_get) as server:
        outcome = cli("-h", server.url, "-j", "{}", "-o", str(report_path))
    assert outcome.code == 1
    post, get, summary = [json.loads(line) for line in report_path.read_text().splitlines()]
    assert post["failed_checks"] == []
    assert get["failed_checks"] == [
        {
            "check": "GET agrees with POST",
            "detail": f"GET {FAKE_ID} answered an output the POST did not",
        }
    ]
    assert summary["checks_failed"] == {"GET agrees with POST": 1}


def test_an_unreachable_host_still_writes_its_report(cli: Any, tmp_path: Path) -> None:
    report_path = tmp_path / "report.json"
    outcome = cli("-h", f"http://127.0.0.1:{free_port()}", "-j", "{}", "-o", str(report_path))
    assert outcome.code == 1
    report = json.loads(report_path.read_text())
    assert [r["error"].split(":")[0] for r in report["requests"]] == ["connect"]
    assert report["summary"]["errors"] == {"connect": 1}


def test_an_unwritable_output_file_is_a_usage_error(cli: Any, tmp_path: Path) -> None:
    outcome = cli("-j", "{}", "-o", str(tmp_path / "no-such-dir" / "report.json"))
    assert outcome.code == 2
    assert "cannot write" in outcome.err
