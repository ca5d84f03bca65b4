"""Configuration: defaults, and start-up refusing bad values with the variable's name."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from cache_service.settings import Settings, StoreKind


def test_defaults_are_the_documented_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [key for key in os.environ if key.startswith("CACHE_")]:
        monkeypatch.delenv(name)
    settings = Settings(_env_file=None)
    assert settings.max_items == 1000
    assert settings.max_string_length == 10_000
    assert settings.max_body_bytes == 1_048_576
    assert settings.transformer_delay_ms == 100
    assert settings.transformer_timeout_s == 10
    assert settings.transformer_concurrency == 16
    assert settings.l1_max_entries == 10_000
    assert settings.store is StoreKind.SQLITE
    assert str(settings.sqlite_path) == ".cache-service/cache.db"


def test_values_come_from_cache_prefixed_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CACHE_MAX_ITEMS", "5")
    monkeypatch.setenv("CACHE_STORE", "memory")
    settings = Settings(_env_file=None)
    assert settings.max_items == 5
    assert settings.store is StoreKind.MEMORY


def _start_up(**variables: str) -> subprocess.CompletedProcess[str]:
    """``cache-service`` started with ``variables`` set (it should stop before serving)."""
    return subprocess.run(
        [sys.executable, "-m", "cache_service", "--port", "1"],
        env={**os.environ, **variables},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_start_up_stops_on_a_bad_value_and_names_the_variable() -> None:
    result = _start_up(CACHE_MAX_ITEMS="-3", CACHE_STORE="floppy")
    assert result.returncode == 2
    assert "CACHE_MAX_ITEMS" in result.stderr
    assert "CACHE_STORE" in result.stderr
    assert "Traceback" not in result.stderr


def test_an_empty_variable_means_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CACHE_REDIS_URL", "")
    monkeypatch.setenv("CACHE_TRANSFORMER_URL", "")
    settings = Settings(_env_file=None)
    assert (settings.redis_url, settings.transformer_url) == (None, None)


def test_dynamodb_without_a_table_names_the_missing_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CACHE_STORE", "dynamodb")
    monkeypatch.delenv("CACHE_DYNAMODB_TABLE", raising=False)
    with pytest.raises(ValueError, match="CACHE_DYNAMODB_TABLE"):
        Settings(_env_file=None)


def test_the_default_claim_expiry_is_below_the_wait_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [key for key in os.environ if key.startswith("CACHE_")]:
        monkeypatch.delenv(name)
    settings = Settings(_env_file=None)
    assert settings.claim_ttl_s < settings.claim_wait_s


def test_start_up_stops_when_a_claim_would_outlive_its_waiters_and_names_both() -> None:
    # A waiter that gives up before a dead holder's claim expires answers 503 while nobody
    # works on the key: refused at start, in every configuration.
    result = _start_up(CACHE_CLAIM_TTL_S="30", CACHE_CLAIM_WAIT_S="25")
    assert result.returncode == 2
    assert "CACHE_CLAIM_TTL_S" in result.stderr
    assert "CACHE_CLAIM_WAIT_S" in result.stderr
    assert "Traceback" not in result.stderr
