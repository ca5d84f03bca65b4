"""A well-behaved Unix tool: signals, closed pipes, full disks, secrets in URLs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import IO

import pytest

from tests.cli.conftest import fresh_payload, run_cli
from tests.cli.http_servers import ScriptedServer
from tests.support.processes import free_port

FOREVER = "60s"  # Long enough never to end by itself while a test runs.


def start_cli(*args: str, stdout: int | IO[str] | None = subprocess.PIPE) -> subprocess.Popen[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("CACHE_CLI_")}
    return subprocess.Popen(
        [sys.executable, "-m", "cache_cli", *args],
        stdout=stdout,
        stderr=subprocess.PIPE,
        text=True,
        env=environment,
    )


def wait_for_requests(server: ScriptedServer, count: int) -> None:
    """Until the CLI is mid-run (the pytest timeout bounds this)."""
    while len(server.seen) < count:
        time.sleep(0.02)


@pytest.mark.parametrize(("sent", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_prints_the_partial_summary_writes_the_report_and_exits_128_plus_n(
    tmp_path: Path, sent: signal.Signals, code: int
) -> None:
    report = tmp_path / "report.json"
    with ScriptedServer(delay_s=0.01) as server:
        process = start_cli(
            "-h", server.url, "-j", json.dumps(fresh_payload()), "-z", FOREVER, "-o", str(report)
        )
        wait_for_requests(server, 5)
        process.send_signal(sent)
        out, err = process.communicate(timeout=30)
    assert process.returncode == code
    assert f"stopped early: {sent.name}" in out
    assert "Traceback" not in err
    assert f"cache-cli: interrupted by {sent.name}: partial results" in err
    written = json.loads(report.read_text())
    assert written["summary"]["stopped"] == sent.name
    assert len(written["requests"]) == written["summary"]["requests"] >= 4


def test_a_reader_that_leaves_early_ends_the_run_quietly_with_the_report_written(
    tmp_path: Path,
) -> None:
    report = tmp_path / "report.jsonl"
    with ScriptedServer() as server:
        process = start_cli(
            "-h", server.url, "-j", json.dumps(fresh_payload()), "-r", "20", "-o", str(report)
        )
        assert process.stdout is not None
        process.stdout.close()  # As `| head -1` does once it has its line.
        err = process.stderr.read() if process.stderr else ""
        process.wait(timeout=30)
    assert process.returncode == 0
    assert err == ""
    *requests, summary = [json.loads(line) for line in report.read_text().splitlines()]
    assert (len(requests), summary["type"], summary["ok"]) == (40, "summary", True)


def test_json_lines_to_a_reader_that_leaves_stop_the_run_quietly() -> None:
    with ScriptedServer() as server:
        process = start_cli(
            "-h", server.url, "-j", json.dumps(fresh_payload()), "-z", FOREVER, "-o", "-"
        )
        assert process.stdout is not None
        first = json.loads(process.stdout.readline())
        process.stdout.close()
        _, err = process.communicate(timeout=30)
    assert first["type"] == "request"
    assert process.returncode == 0
    assert "stopped early: stdout closed" in err  # The summary goes to stderr with -o -.
    assert "cache-cli:" not in err  # And nothing else is said.


def test_a_full_stdout_is_one_line_and_exit_1() -> None:
    with ScriptedServer() as server, open("/dev/full", "w") as full:
        process = start_cli("-h", server.url, "-j", json.dumps(fresh_payload()), stdout=full)
        _, err = process.communicate(timeout=30)
    assert process.returncode == 1
    assert err == "cache-cli: cannot write stdout: No space left on device\n"


def test_a_full_report_device_is_one_line_and_exit_1() -> None:
    with ScriptedServer() as server:
        outcome = run_cli("-h", server.url, "-j", json.dumps(fresh_payload()), "-o", "/dev/full")
    assert outcome.code == 1
    assert "checks: consistent" in outcome.out  # The summary itself was printed.
    assert outcome.err == "cache-cli: cannot write /dev/full: No space left on device\n"


def test_a_password_in_the_url_is_sent_but_never_shown(tmp_path: Path) -> None:
    report = tmp_path / "report.jsonl"
    with ScriptedServer() as server:
        host = server.url.replace("http://", "http://alice:s3cret@")
        outcome = run_cli(
            "-h", host, "-j", json.dumps(fresh_payload()), "-o", str(report), "--fail-if", "p50>0"
        )
    assert outcome.code == 3
    assert {seen.headers["authorization"] for seen in server.seen} == {
        "Basic YWxpY2U6czNjcmV0"  # alice:s3cret
    }
    for text in (outcome.out, outcome.err, report.read_text()):
        assert "s3cret" not in text
    assert "http://alice:xxxxx@127.0.0.1" in outcome.out


def test_a_password_in_an_unreachable_url_is_not_shown() -> None:
    outcome = run_cli("-h", f"http://bob:hunter2@127.0.0.1:{free_port()}", "-j", "{}")
    assert outcome.code == 1
    assert "cannot reach http://bob:xxxxx@127.0.0.1:" in outcome.err
    assert "hunter2" not in outcome.err + outcome.out


def test_a_password_in_an_invalid_url_is_not_shown() -> None:
    outcome = run_cli("-h", "http://bob:hunter2@127.0.0.1:99999", "-j", "{}")
    assert outcome.code == 2
    assert "invalid URL 'http://bob:xxxxx@127.0.0.1:99999'" in outcome.err
    assert "hunter2" not in outcome.err


def test_a_token_as_user_name_is_not_shown() -> None:
    outcome = run_cli("-h", f"http://ghp_T0KEN@127.0.0.1:{free_port()}", "-j", "{}")
    assert outcome.code == 1
    assert "http://xxxxx@127.0.0.1" in outcome.err
    assert "T0KEN" not in outcome.err
