"""Every flag can come from a CACHE_CLI_* variable; a flag wins over its variable."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from cache_cli.arguments import parse_settings
from tests.cli.conftest import fresh_payload
from tests.support.processes import ServiceProcess


def test_a_run_configured_only_by_environment(
    cli: Any, service: ServiceProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CACHE_CLI_HOST", service.url)
    monkeypatch.setenv("CACHE_CLI_JSON", json.dumps(fresh_payload()))
    monkeypatch.setenv("CACHE_CLI_REPEAT", "3")
    monkeypatch.setenv("CACHE_CLI_FORMAT", "json")
    outcome = cli()
    assert outcome.code == 0, outcome.err
    assert json.loads(outcome.out)["endpoints"]["POST /payload"]["requests"] == 3


def test_every_flag_has_a_variable(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    variables = {
        "HOST": "https://x.example/prod",
        "REPEAT": "7",
        "INPUT": str(tmp_path / "in.jsonl"),
        "OUTPUT": "report.jsonl",
        "CONCURRENCY": "3",
        "TIMEOUT": "2.5",
        "API_KEY": "k",
        "FORMAT": "json",
        "NO_GET": "true",
        "UNIQUE": "1",
        "DURATION": "1m",
        "RATE": "50",
        "HEADER": '["Authorization: Bearer x", "X-Trace: 1"]',
        "NO_PROGRESS": "true",
        "FAIL_IF": "p99>50ms",
    }
    for name, value in variables.items():
        monkeypatch.setenv(f"CACHE_CLI_{name}", value)
    settings = parse_settings([])
    assert settings.host == "https://x.example/prod"
    assert (settings.repeat, settings.concurrency, settings.timeout) == (7, 3, 2.5)
    assert (settings.input, settings.output) == (str(tmp_path / "in.jsonl"), "report.jsonl")
    assert settings.api_key is not None
    assert settings.api_key.get_secret_value() == "k"
    assert (settings.format, settings.no_get, settings.unique) == ("json", True, True)
    assert (settings.duration, settings.rate, settings.no_progress) == (60, 50, True)
    assert settings.header == ["Authorization: Bearer x", "X-Trace: 1"]
    assert [t.text for t in settings.fail_if] == ["p99>50ms"]


def test_fresh_has_a_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CACHE_CLI_FRESH", "yes")
    assert parse_settings(["-j", "{}"]).fresh is True


def test_an_empty_variable_counts_as_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        *("HOST", "REPEAT", "OUTPUT", "CONCURRENCY", "TIMEOUT", "API_KEY", "FORMAT"),
        *("DURATION", "RATE", "HEADER", "FAIL_IF", "NO_GET", "UNIQUE", "FRESH", "NO_PROGRESS"),
    ):
        monkeypatch.setenv(f"CACHE_CLI_{name}", "")
    settings = parse_settings(["-j", "{}"])
    assert settings.host == "http://localhost:8000"
    assert (settings.repeat, settings.concurrency, settings.timeout) == (1, 1, 10.0)
    assert (settings.output, settings.api_key, settings.format) == (None, None, "table")
    assert (settings.duration, settings.rate, settings.header, settings.fail_if) == (
        None,
        None,
        [],
        [],
    )
    assert (settings.no_get, settings.unique, settings.fresh) == (False, False, False)


def test_an_empty_repeat_variable_runs_with_the_default(
    cli: Any, service: ServiceProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CACHE_CLI_REPEAT", "")
    outcome = cli("-h", service.url, "-j", json.dumps(fresh_payload()), "--format", "json")
    assert outcome.code == 0, outcome.err
    assert json.loads(outcome.out)["endpoints"]["POST /payload"]["requests"] == 1


def test_a_flag_overrides_its_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CACHE_CLI_REPEAT", "5")
    assert parse_settings(["-j", "{}", "-r", "2"]).repeat == 2


def test_a_payload_flag_replaces_a_payload_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CACHE_CLI_INPUT", "payloads.jsonl")
    settings = parse_settings(["-j", "{}"])
    assert (settings.input, settings.json_payload) == (None, "{}")


def test_an_invalid_variable_is_named_in_the_error(
    cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CACHE_CLI_CONCURRENCY", "0")
    outcome = cli("-j", "{}")
    assert outcome.code == 2
    assert "CACHE_CLI_CONCURRENCY" in outcome.err
