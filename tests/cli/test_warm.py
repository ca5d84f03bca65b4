"""``--warm``: a JSON Lines file POSTed once per line, each line's outcome reported on stdout."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from cache_cli.lines import MAX_LINE_BYTES
from tests.cli.conftest import fresh_payload, run_cli, run_on_a_terminal
from tests.cli.http_servers import FAKE_ID, Answer, LocalServer, ScriptedServer, Seen
from tests.cli.test_unix import start_cli, wait_for_requests
from tests.conftest import Services
from tests.support.processes import ServiceProcess, free_port

HEX_ID = re.compile(r"[0-9a-f]{64}")


def jsonl(*lines: object) -> str:
    """Each item a line: a dict as JSON, a string as it is."""
    return "".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines)


def write_lines(tmp_path: Path, *lines: object) -> str:
    file = tmp_path / "payloads.jsonl"
    file.write_text(jsonl(*lines))
    return str(file)


def report(out: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.splitlines()]


def statuses(out: str) -> list[tuple[int, str]]:
    return [(line["line"], line["status"]) for line in report(out)]


def transformer_calls(url: str) -> float:
    """Every call the service made to its transformer, whatever the outcome."""
    text = httpx.get(f"{url}/metrics", timeout=10).text
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        if family.name == "cache_transformer_calls"
        for sample in family.samples
        if sample.name == "cache_transformer_calls_total"
    )


def created_answer(method: str, path: str, calls: int) -> Answer:
    return Answer(201, {"id": FAKE_ID, "output": "A"}, {"X-Cache": "MISS"})


def test_a_first_run_creates_every_line_and_a_second_finds_them_present_at_no_work(
    cli: Any, services: Services, tmp_path: Path
) -> None:
    service = services.start({"CACHE_STORE": "memory"})
    file = write_lines(tmp_path, *(fresh_payload() for _ in range(5)))

    first = cli("-h", service.url, "--warm", file, "-c", "3")
    calls_after_first = transformer_calls(service.url)
    second = cli("-h", service.url, "--warm", file, "-c", "3", "--format", "json")

    assert first.code == 0, first.err
    assert statuses(first.out) == [(n, "created") for n in range(1, 6)]
    assert second.code == 0, second.err
    assert statuses(second.out) == [(n, "present") for n in range(1, 6)]
    assert [line["id"] for line in report(second.out)] == [line["id"] for line in report(first.out)]
    summary = json.loads(second.err)
    assert (summary["requests"], summary["present"]) == (5, 5)
    assert transformer_calls(service.url) == calls_after_first > 0


def test_each_report_line_is_line_id_status_and_an_error_only_when_not_stored(
    cli: Any, service: ServiceProcess, tmp_path: Path
) -> None:
    file = write_lines(tmp_path, fresh_payload(), {"list_1": ["a"], "list_2": []})
    outcome = cli("-h", service.url, "--warm", file)
    stored, refused = report(outcome.out)
    assert set(stored) == {"line", "id", "status"}
    assert (stored["line"], stored["status"]) == (1, "created")
    assert HEX_ID.fullmatch(stored["id"])
    assert set(refused) == {"line", "id", "status", "error"}
    assert (refused["line"], refused["id"], refused["status"]) == (2, None, "invalid")


def test_invalid_lines_are_reported_by_number_with_the_reason_and_the_rest_still_stored(
    cli: Any, service: ServiceProcess, tmp_path: Path
) -> None:
    file = write_lines(
        tmp_path,
        fresh_payload(),
        "{oops",
        {"list_1": ["a"], "list_2": []},
        ["not", "an", "object"],
        {"list_1": ["a"]},
        fresh_payload(),
    )
    outcome = cli("-h", service.url, "--warm", file, "-c", "2")
    lines = report(outcome.out)
    assert outcome.code == 1
    assert statuses(outcome.out) == [
        (1, "created"),
        (2, "invalid"),
        (3, "invalid"),
        (4, "invalid"),
        (5, "invalid"),
        (6, "created"),
    ]
    assert lines[1]["error"].startswith("line 2 not sent: invalid JSON")
    assert lines[2]["error"] == (
        "HTTP 422: body.list_2: List should have at least 1 item after validation, not 0"
    )
    assert lines[3]["error"] == (
        "line 4 not sent: expected a JSON object with list_1 and list_2, got array"
    )
    assert lines[4]["error"] == "line 5 not sent: list_2 is missing"
    assert "cache-cli: 4 of 6 lines not stored (first: line 2 not sent: invalid JSON" in outcome.err


def test_blank_lines_are_skipped_and_still_counted_in_line_numbers(
    cli: Any, service: ServiceProcess, tmp_path: Path
) -> None:
    file = write_lines(tmp_path, "", fresh_payload(), "   ", fresh_payload(), "")
    outcome = cli("-h", service.url, "--warm", file, "--format", "json")
    assert outcome.code == 0, outcome.err
    assert statuses(outcome.out) == [(2, "created"), (4, "created")]
    summary = json.loads(outcome.err)
    assert (summary["lines"], summary["blank_lines_skipped"]) == (2, 3)


def test_a_last_line_without_a_newline_is_sent_too(cli: Any, tmp_path: Path) -> None:
    file = tmp_path / "payloads.jsonl"
    file.write_text(json.dumps(fresh_payload()) + "\n" + json.dumps(fresh_payload()))
    with ScriptedServer(created_answer) as server:
        outcome = cli("-h", server.url, "--warm", str(file))
    assert statuses(outcome.out) == [(1, "created"), (2, "created")]
    assert len(server.seen) == 2


def test_a_line_longer_than_any_payload_is_reported_without_being_sent(
    cli: Any, tmp_path: Path
) -> None:
    file = tmp_path / "payloads.jsonl"
    with file.open("w") as lines:
        lines.write(json.dumps(fresh_payload()) + "\n")
        lines.write('{"list_1": ["' + "x" * (MAX_LINE_BYTES + 1) + '"], "list_2": ["y"]}\n')
        lines.write(json.dumps(fresh_payload()) + "\n")
    with ScriptedServer(created_answer) as server:
        outcome = cli("-h", server.url, "--warm", str(file))
    assert outcome.code == 1
    assert statuses(outcome.out) == [(1, "created"), (2, "invalid"), (3, "created")]
    assert report(outcome.out)[1]["error"] == "line 2 not sent: longer than 16 MiB"
    assert len(server.seen) == 2


def test_dash_reads_the_lines_from_stdin(service: ServiceProcess) -> None:
    outcome = run_cli(
        "-h", service.url, "--warm", "-", stdin=jsonl(fresh_payload(), fresh_payload())
    )
    assert outcome.code == 0, outcome.err
    assert statuses(outcome.out) == [(1, "created"), (2, "created")]
    assert "warmed from stdin" in outcome.err


def test_each_line_is_posted_once_and_nothing_else_is_sent(cli: Any, tmp_path: Path) -> None:
    file = write_lines(tmp_path, *(fresh_payload() for _ in range(4)))
    with ScriptedServer() as server:
        outcome = cli("-h", server.url, "--warm", file, "-c", "2")
    assert outcome.code == 0, outcome.err
    assert [(seen.method, seen.path) for seen in server.seen] == [("POST", "/payload")] * 4


def test_concurrency_keeps_that_many_requests_in_flight_at_once(cli: Any, tmp_path: Path) -> None:
    # Each request is held until four are in the server together: without overlap, none of
    # them could be answered (the barrier breaks and the lines fail).
    together = threading.Barrier(4, timeout=20)

    def after_four_arrived(method: str, path: str, calls: int) -> Answer:
        try:
            together.wait()
        except threading.BrokenBarrierError:
            return Answer(500, {"detail": "requests did not overlap"})
        return created_answer(method, path, calls)

    file = write_lines(tmp_path, *(fresh_payload() for _ in range(8)))
    with ScriptedServer(after_four_arrived) as server:
        outcome = cli("-h", server.url, "--warm", file, "-c", "4")
    assert outcome.code == 0, outcome.err
    assert server.most_in_flight == 4
    assert len({seen.client for seen in server.seen}) == 4  # One connection each.


class _FirstLineLast(LocalServer):
    """Answers the request carrying ``first`` only after every other request was answered."""

    def __init__(self, first: str, others: int) -> None:
        self.first = first.encode()
        self.others = others
        self.answered = 0
        self.rest_answered = threading.Event()
        super().__init__()

    def respond(self, seen: Seen, body: bytes) -> Answer:
        if self.first in body:
            self.rest_answered.wait(timeout=20)
            return created_answer(seen.method, seen.path, 1)
        with self._lock:
            self.answered += 1
            if self.answered == self.others:
                self.rest_answered.set()
        return Answer(200, {"id": FAKE_ID, "output": "A"}, {"X-Cache": "HIT"})


def test_the_report_follows_the_input_order_whatever_order_the_answers_come_in(
    cli: Any, tmp_path: Path
) -> None:
    first = fresh_payload()
    file = write_lines(tmp_path, first, *(fresh_payload() for _ in range(3)))
    with _FirstLineLast(first["list_1"][0], others=3) as server:
        outcome = cli("-h", server.url, "--warm", file, "-c", "4")
    assert server.rest_answered.is_set()  # Line 1 was indeed answered last.
    assert statuses(outcome.out) == [(1, "created"), (2, "present"), (3, "present"), (4, "present")]


def test_a_503_with_retry_after_is_asked_again_and_the_line_stored(
    cli: Any, tmp_path: Path
) -> None:
    def busy_once(method: str, path: str, calls: int) -> Answer:
        if calls == 1:
            return Answer(503, {"detail": "another request holds this work"}, {"Retry-After": "1"})
        return created_answer(method, path, calls)

    file = write_lines(tmp_path, fresh_payload())
    with ScriptedServer(busy_once) as server:
        outcome = cli("-h", server.url, "--warm", file, "--format", "json")
    assert outcome.code == 0, outcome.err
    assert statuses(outcome.out) == [(1, "created")]
    assert len(server.seen) == 2
    summary = json.loads(outcome.err)
    assert (summary["requests"], summary["retries"]) == (2, 1)


def test_a_429_without_retry_after_is_asked_again(cli: Any, tmp_path: Path) -> None:
    def throttled_once(method: str, path: str, calls: int) -> Answer:
        if calls == 1:
            return Answer(429, {"message": "Too Many Requests"})
        return created_answer(method, path, calls)

    file = write_lines(tmp_path, fresh_payload())
    with ScriptedServer(throttled_once) as server:
        outcome = cli("-h", server.url, "--warm", file)
    assert outcome.code == 0, outcome.err
    assert statuses(outcome.out) == [(1, "created")]
    assert len(server.seen) == 2


def test_a_503_that_persists_fails_the_line_after_the_retries_and_exits_1(
    cli: Any, tmp_path: Path
) -> None:
    def always_busy(method: str, path: str, calls: int) -> Answer:
        return Answer(503, {"detail": "the durable store is unavailable"}, {"Retry-After": "0"})

    file = write_lines(tmp_path, fresh_payload())
    with ScriptedServer(always_busy) as server:
        outcome = cli("-h", server.url, "--warm", file, "--retries", "2")
    assert outcome.code == 1
    assert len(server.seen) == 3  # The first request and two retries.
    [line] = report(outcome.out)
    assert line["status"] == "failed"
    assert line["error"] == "HTTP 503: the durable store is unavailable (still, after 2 retries)"


def test_a_503_without_retry_after_fails_at_once(cli: Any, tmp_path: Path) -> None:
    def unavailable(method: str, path: str, calls: int) -> Answer:
        return Answer(503, {"message": "Service Unavailable"})

    file = write_lines(tmp_path, fresh_payload())
    with ScriptedServer(unavailable) as server:
        outcome = cli("-h", server.url, "--warm", file)
    assert outcome.code == 1
    assert len(server.seen) == 1
    assert report(outcome.out)[0]["error"] == "HTTP 503: Service Unavailable"


def test_a_server_that_is_down_fails_every_line_and_exits_1(cli: Any, tmp_path: Path) -> None:
    file = write_lines(tmp_path, fresh_payload(), fresh_payload())
    outcome = cli("-h", f"http://127.0.0.1:{free_port()}", "--warm", file, "--format", "json")
    assert outcome.code == 1
    assert statuses(outcome.out) == [(1, "failed"), (2, "failed")]
    assert all(line["error"].startswith("connect: ") for line in report(outcome.out))
    summary, verdict = outcome.err.rsplit("}\n", 1)
    assert json.loads(summary + "}")["failed"] == 2
    assert verdict.startswith("cache-cli: 2 of 2 lines not stored (first: line 1: connect: ")


def test_a_terminal_gets_a_progress_bar_with_rate_and_eta_on_stderr(
    service: ServiceProcess, tmp_path: Path
) -> None:
    file = write_lines(tmp_path, fresh_payload(), fresh_payload())
    done, drawn = run_on_a_terminal("-h", service.url, "--warm", file)
    assert done.returncode == 0
    assert "lines/s" in drawn
    assert "100%  ETA 0:00" in drawn  # The last drawing, once every byte is done.
    assert b'"status": "created"' in done.stdout  # The report is left alone.


def test_load_run_flags_are_a_usage_error_with_warm(cli: Any, tmp_path: Path) -> None:
    outcome = cli("--warm", write_lines(tmp_path, fresh_payload()), "-r", "3")
    assert outcome.code == 2
    assert outcome.err == (
        "cache-cli: --warm sends each line once; it takes no -r/--repeat (CACHE_CLI_REPEAT)\n"
    )


def test_an_unreadable_warm_file_exits_2(cli: Any, tmp_path: Path) -> None:
    outcome = cli("--warm", str(tmp_path / "missing.jsonl"))
    assert outcome.code == 2
    assert "cannot read" in outcome.err
    assert "No such file or directory" in outcome.err


@pytest.mark.parametrize(("sent", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_ends_a_run_waiting_on_stdin_with_the_summary_and_128_plus_n(
    sent: signal.Signals, code: int
) -> None:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("CACHE_CLI_")}
    with ScriptedServer(created_answer) as server:
        process = subprocess.Popen(
            [sys.executable, "-m", "cache_cli", "-h", server.url, "--warm", "-"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=environment,
        )
        assert process.stdin is not None
        assert process.stderr is not None
        process.stdin.write(jsonl(fresh_payload()))
        process.stdin.flush()  # And stdin stays open: the reader waits for more.
        wait_for_requests(server, 1)
        process.send_signal(sent)
        process.wait(timeout=30)
        err = process.stderr.read()
        process.stdin.close()
    assert process.returncode == code
    assert f"stopped early: {sent.name}" in err
    assert f"cache-cli: interrupted by {sent.name}: lines in flight not reported" in err
    assert "Traceback" not in err


def test_a_reader_that_leaves_early_ends_the_run_quietly(tmp_path: Path) -> None:
    file = write_lines(tmp_path, *(fresh_payload() for _ in range(2000)))
    with ScriptedServer(created_answer) as server:
        process = start_cli("-h", server.url, "--warm", file)
        assert process.stdout is not None
        process.stdout.close()  # As `| head -1` does once it has its line.
        err = process.stderr.read() if process.stderr else ""
        process.wait(timeout=30)
    assert process.returncode == 0
    assert "stopped early: stdout closed" in err
    assert "cache-cli:" not in err
