"""``cache-service warm FILE`` as a user runs it: a real process, its stdout, stderr and exit code.

The last test runs two warm workers and a serving process on the same payloads at once, all
sharing one SQLite file and one counting transformer: each string is paid for once in total.
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx
import pytest

from cache_service.settings import Settings
from cache_service.warming.command import warm_file
from tests.conftest import Services
from tests.support.transformer_server import TransformerServer
from tests.warming.test_warmer import as_lines, distinct, pool_payloads


def environment(tmp_path: Path, transformer: TransformerServer, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CACHE_")}
    env.update(
        CACHE_SQLITE_PATH=str(tmp_path / "cache.db"),
        CACHE_TRANSFORMER_URL=transformer.url,
        CACHE_TRANSFORMER_BATCH_SIZE="10",
        **extra,
    )
    return env


def run_warm(
    args: list[str], env: Mapping[str, str], cwd: Path, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cache_service", "warm", "--no-progress", *args],
        env=env,
        cwd=cwd,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def report(result: subprocess.CompletedProcess[str]) -> list[dict[str, Any]]:
    return [json.loads(line) for line in result.stdout.splitlines()]


def summary(result: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    last = result.stderr.strip().splitlines()[-1]
    figures: dict[str, Any] = json.loads(last)["summary"]
    return figures


def write(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(line + "\n" for line in lines))
    return path


def test_every_line_stored_exits_0_with_one_report_line_each(
    tmp_path: Path, transformer_server: TransformerServer
) -> None:
    bodies = pool_payloads(15, pool=25)
    file = write(tmp_path / "in.jsonl", as_lines(bodies))

    result = run_warm([str(file)], environment(tmp_path, transformer_server), tmp_path)

    assert result.returncode == 0, result.stderr
    lines = report(result)
    assert sorted(r["line"] for r in lines) == list(range(1, 16))
    assert {r["status"] for r in lines} == {"created"}
    assert all(set(r) == {"line", "id", "status"} and len(r["id"]) == 64 for r in lines)
    figures = summary(result)
    assert figures["lines"] == figures["created"] == 15
    assert figures["strings_transformed"] == len(distinct(bodies))
    assert figures["transformer_requests"] == transformer_server.requests


def test_invalid_lines_exit_1_and_the_rest_is_still_stored(
    tmp_path: Path, transformer_server: TransformerServer
) -> None:
    file = write(
        tmp_path / "in.jsonl",
        [json.dumps({"list_1": ["a"], "list_2": ["b"]}), "{oops", ""],
    )

    result = run_warm([str(file)], environment(tmp_path, transformer_server), tmp_path)

    assert result.returncode == 1
    by_line = {r["line"]: r for r in report(result)}
    assert by_line[1]["status"] == "created"
    assert by_line[2]["status"] == "invalid"
    assert by_line[2]["id"] is None
    assert "JSON decode error" in by_line[2]["error"]
    assert 3 not in by_line  # a blank line is no payload


def test_a_line_longer_than_the_body_limit_is_invalid_and_never_read_whole(
    tmp_path: Path, transformer_server: TransformerServer
) -> None:
    huge = json.dumps({"list_1": ["x" * 5000], "list_2": ["y"]})
    file = write(tmp_path / "in.jsonl", [huge, json.dumps({"list_1": ["a"], "list_2": ["b"]})])
    env = environment(tmp_path, transformer_server, CACHE_MAX_BODY_BYTES="1024")

    result = run_warm([str(file)], env, tmp_path)

    by_line = {r["line"]: r for r in report(result)}
    assert by_line[1]["status"] == "invalid"
    assert "exceeds the limit of 1024 bytes (CACHE_MAX_BODY_BYTES)" in by_line[1]["error"]
    assert by_line[2]["status"] == "created"


def test_stdin_is_read_with_a_dash(tmp_path: Path, transformer_server: TransformerServer) -> None:
    stdin = json.dumps({"list_1": ["from"], "list_2": ["stdin"]}) + "\n"

    result = run_warm(["-"], environment(tmp_path, transformer_server), tmp_path, stdin=stdin)

    assert result.returncode == 0, result.stderr
    assert [r["status"] for r in report(result)] == ["created"]


def test_a_missing_file_is_a_usage_error(
    tmp_path: Path, transformer_server: TransformerServer
) -> None:
    result = run_warm(["nope.jsonl"], environment(tmp_path, transformer_server), tmp_path)

    assert result.returncode == 2
    assert "cannot read nope.jsonl" in result.stderr
    assert result.stdout == ""


def test_a_bad_window_is_a_usage_error(
    tmp_path: Path, transformer_server: TransformerServer
) -> None:
    result = run_warm(["--window", "0", "-"], environment(tmp_path, transformer_server), tmp_path)

    assert result.returncode == 2
    assert "must be at least 1" in result.stderr


def test_a_rerun_after_a_killed_run_resumes_and_pays_only_for_what_is_left(
    tmp_path: Path, transformer_server: TransformerServer
) -> None:
    bodies = pool_payloads(40, pool=60)
    file = write(tmp_path / "in.jsonl", as_lines(bodies))
    env = environment(tmp_path, transformer_server)
    transformer_server.delay_s = 0.2
    first = subprocess.Popen(
        [sys.executable, "-m", "cache_service", "warm", "--no-progress", str(file)],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    while transformer_server.requests < 2:
        assert first.poll() is None, "the first run ended before it could be killed"
        time.sleep(0.01)
    first.kill()
    first.wait()
    paid_before = transformer_server.total_calls
    transformer_server.delay_s = 0.0

    result = run_warm([str(file)], env, tmp_path)

    assert result.returncode == 0, result.stderr
    assert {r["status"] for r in report(result)} <= {"created", "present"}
    # Strings the killed run stored are not paid for again; only its cut-off calls may be.
    assert transformer_server.total_calls - paid_before <= len(distinct(bodies))
    assert summary(result)["strings_transformed"] == transformer_server.total_calls - paid_before


async def test_two_workers_and_live_traffic_pay_for_each_string_once(
    tmp_path: Path, transformer_server: TransformerServer, services: Services
) -> None:
    bodies = pool_payloads(80, pool=120)
    file = write(tmp_path / "in.jsonl", as_lines(bodies))
    env = environment(tmp_path, transformer_server)
    transformer_server.delay_s = 0.05
    service = services.start(env)
    command = [sys.executable, "-m", "cache_service", "warm", "--no-progress", str(file)]
    workers = [
        await asyncio.create_subprocess_exec(
            *command, env=env, cwd=tmp_path, stdout=asyncio.subprocess.PIPE
        )
        for _ in range(2)
    ]
    async with httpx.AsyncClient(base_url=service.url, timeout=60) as client:
        answers = await asyncio.gather(*(client.post("/payload", json=b) for b in bodies))
    outputs = [await worker.communicate() for worker in workers]

    assert [worker.returncode for worker in workers] == [0, 0]
    assert {answer.status_code for answer in answers} <= {200, 201}
    assert dict(transformer_server.calls) == dict.fromkeys(distinct(bodies), 1)
    created = sum(
        1
        for stdout, _ in outputs
        for line in stdout.decode().splitlines()
        if json.loads(line)["status"] == "created"
    )
    # Each payload was stored by exactly one of the three: a worker or a request.
    assert created + sum(a.status_code == 201 for a in answers) == len(bodies)


def test_sigterm_stops_the_run_with_143_and_leaves_no_claim_behind(
    tmp_path: Path, transformer_server: TransformerServer
) -> None:
    file = write(tmp_path / "in.jsonl", as_lines(pool_payloads(40, pool=60)))
    transformer_server.delay_s = 30.0  # every call is in flight when the signal comes
    worker = subprocess.Popen(
        [sys.executable, "-m", "cache_service", "warm", "--no-progress", str(file)],
        env=environment(tmp_path, transformer_server),
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    while transformer_server.requests < 1:
        assert worker.poll() is None, "the run ended before it could be stopped"
        time.sleep(0.01)

    worker.terminate()
    _, stderr = worker.communicate(timeout=30)

    assert worker.returncode == 143
    assert "stopped by SIGTERM" in stderr
    with sqlite3.connect(tmp_path / "cache.db") as db:
        assert db.execute("SELECT count(*) FROM claims").fetchone() == (0,)


def test_the_progress_bar_shows_lines_and_their_rate_on_stderr(
    tmp_path: Path,
    transformer_server: TransformerServer,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    file = write(tmp_path / "in.jsonl", as_lines(pool_payloads(250, pool=300)))
    for name, value in environment(tmp_path, transformer_server).items():
        if name.startswith("CACHE_"):
            monkeypatch.setenv(name, value)

    code = warm_file(Settings(), str(file), window=100, progress=True)

    stderr = capsys.readouterr().err
    assert code == 0
    assert "warming" in stderr
    assert "250 lines" in stderr
    assert "100%" in stderr


def test_warm_takes_a_file_or_hot_n_but_not_both_nor_neither(
    tmp_path: Path, transformer_server: TransformerServer
) -> None:
    env = environment(tmp_path, transformer_server)
    both = run_warm(["--hot", "3", "in.jsonl"], env, tmp_path)
    neither = run_warm([], env, tmp_path)

    assert (both.returncode, neither.returncode) == (2, 2)
    assert "give either FILE or --hot N" in both.stderr
    assert "give either FILE or --hot N" in neither.stderr
