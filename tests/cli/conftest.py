"""A real cache-service for the whole CLI suite, and two ways to run the CLI."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from cache_cli.__main__ import main
from tests.support.processes import ServiceProcess


@pytest.fixture(scope="session")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceProcess]:
    """One service process; tests stay independent by sending payloads no other test sends."""
    env = {"CACHE_STORE": "memory", "CACHE_TRANSFORMER_DELAY_MS": "30"}
    with ServiceProcess(env, tmp_path_factory.mktemp("service")) as process:
        yield process


@pytest.fixture(autouse=True)
def no_cli_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The developer's own CACHE_CLI_* variables must not leak into a test."""
    for name in list(os.environ):
        if name.startswith("CACHE_CLI_"):
            monkeypatch.delenv(name)


def fresh_payload(items: int = 2) -> dict[str, Any]:
    """A payload no other test has sent, so its first POST is a miss."""
    token = uuid.uuid4().hex[:8]
    return {
        "list_1": [f"a-{token}-{n}" for n in range(items)],
        "list_2": [f"b-{token}-{n}" for n in range(items)],
    }


@dataclass
class Outcome:
    """How a CLI run ended."""

    code: int
    out: str
    err: str


def run_cli(*args: str, stdin: str | None = None, env: dict[str, str] | None = None) -> Outcome:
    """``python -m cache_cli`` as a user runs it: a separate process, exit code and streams."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("CACHE_CLI_")}
    environment.update(env or {})
    done = subprocess.run(
        [sys.executable, "-m", "cache_cli", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=environment,
        timeout=30,
    )
    return Outcome(done.returncode, done.stdout, done.stderr)


def run_on_a_terminal(*args: str) -> tuple[subprocess.CompletedProcess[bytes], str]:
    """``python -m cache_cli`` with stderr on a pseudo-terminal: the run, and what it drew there."""
    leader, follower = pty.openpty()
    try:
        done = subprocess.run(
            [sys.executable, "-m", "cache_cli", *args],
            stdout=subprocess.PIPE,
            stderr=follower,
            timeout=30,
        )
        os.close(follower)
        chunks = []
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # EIO: the other end is closed.
                break
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(leader)
    return done, b"".join(chunks).decode(errors="replace")


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Any:
    """The CLI in this process (faster); returns its Outcome."""

    def run(*args: str) -> Outcome:
        code = main(list(args))
        captured = capsys.readouterr()
        return Outcome(code, captured.out, captured.err)

    return run
