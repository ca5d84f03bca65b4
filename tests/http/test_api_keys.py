"""Optional API keys, on a real ``cache-service`` process: which routes need one, what a
refusal looks like, rotation by listing two, and keys kept out of logs and out of timing."""

from __future__ import annotations

import hmac
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from cache_service.http.api_keys import ApiKeys
from tests.support.processes import ServiceProcess

OLD, NEW = "old-key-0123456789abcdef", "new-key-fedcba9876543210"
BODY = {"list_1": ["keyed"], "list_2": ["request"]}


@pytest.fixture(scope="module")
def keyed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceProcess]:
    env = {
        "CACHE_STORE": "memory",
        "CACHE_TRANSFORMER_DELAY_MS": "0",
        "CACHE_API_KEYS": f"{OLD}, {NEW}",
    }
    with ServiceProcess(env=env, workdir=tmp_path_factory.mktemp("keyed")) as process:
        yield process


def test_a_payload_route_without_a_key_is_401_with_a_challenge(keyed: ServiceProcess) -> None:
    answer = httpx.post(f"{keyed.url}/payload", json=BODY, timeout=10)

    assert answer.status_code == 401
    assert answer.headers["www-authenticate"] == (
        'ApiKey realm="cache-service", header="x-api-key"'
    )
    assert answer.json() == {"detail": "a valid API key is required in the x-api-key header"}
    assert answer.headers["x-request-id"]


def test_a_wrong_key_is_401_on_both_payload_routes(keyed: ServiceProcess) -> None:
    wrong = {"x-api-key": OLD[:-1] + "g"}  # one character off

    posted = httpx.post(f"{keyed.url}/payload", json=BODY, headers=wrong, timeout=10)
    got = httpx.get(f"{keyed.url}/payload/{'0' * 64}", headers=wrong, timeout=10)

    assert (posted.status_code, got.status_code) == (401, 401)


def test_either_listed_key_is_accepted_which_is_how_a_key_is_rotated(
    keyed: ServiceProcess,
) -> None:
    with_old = httpx.post(f"{keyed.url}/payload", json=BODY, headers={"x-api-key": OLD})
    with_new = httpx.get(f"{keyed.url}/payload/{with_old.json()['id']}", headers={"x-api-key": NEW})

    assert with_old.status_code in (200, 201)
    assert with_new.status_code == 200


def test_health_ready_and_the_docs_stay_open_by_default(keyed: ServiceProcess) -> None:
    statuses = [
        httpx.get(f"{keyed.url}{path}", timeout=10).status_code
        for path in ("/health", "/ready", "/metrics", "/docs", "/openapi.json")
    ]

    assert statuses == [200, 200, 200, 200, 200]


def test_the_openapi_document_states_the_key_on_the_payload_routes(keyed: ServiceProcess) -> None:
    document = httpx.get(f"{keyed.url}/openapi.json", timeout=10).json()

    scheme = document["components"]["securitySchemes"]["ApiKey"]
    assert scheme == {"type": "apiKey", "in": "header", "name": "x-api-key"}
    assert document["paths"]["/payload"]["post"]["security"] == [{"ApiKey": []}]
    assert document["paths"]["/payload/{id}"]["get"]["security"] == [{"ApiKey": []}]
    assert "security" not in document["paths"]["/health"]["get"]


def test_no_key_reaches_the_log(keyed: ServiceProcess) -> None:
    for key in (OLD, NEW, "a-wrong-key-sent-by-someone"):
        httpx.post(f"{keyed.url}/payload", json=BODY, headers={"x-api-key": key}, timeout=10)

    log = keyed.log()
    assert OLD not in log
    assert NEW not in log
    assert "a-wrong-key-sent-by-someone" not in log


def test_ready_and_metrics_can_be_closed_too_but_health_never(tmp_path: Path) -> None:
    env = {
        "CACHE_STORE": "memory",
        "CACHE_API_KEYS": NEW,
        "CACHE_OPERATIONS_NEED_KEY": "true",
    }
    with ServiceProcess(env=env, workdir=tmp_path) as process:
        closed = [httpx.get(f"{process.url}{p}").status_code for p in ("/ready", "/metrics")]
        opened = [
            httpx.get(f"{process.url}{p}", headers={"x-api-key": NEW}).status_code
            for p in ("/ready", "/metrics")
        ]
        health = httpx.get(f"{process.url}/health").status_code

    assert (closed, opened, health) == ([401, 401], [200, 200], 200)


def _start_up(**variables: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CACHE_")}
    return subprocess.run(
        [sys.executable, "-m", "cache_service", "--port", "1"],
        env={**clean, **variables},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_a_short_key_stops_start_up_without_printing_it() -> None:
    result = _start_up(CACHE_API_KEYS="short-key")

    assert result.returncode == 2
    assert "every key must have at least 16 characters" in result.stderr
    assert "short-key" not in result.stderr


def test_closing_the_operations_without_keys_stops_start_up() -> None:
    result = _start_up(CACHE_OPERATIONS_NEED_KEY="true")

    assert result.returncode == 2
    assert "CACHE_OPERATIONS_NEED_KEY needs CACHE_API_KEYS" in result.stderr


def test_every_key_is_compared_in_constant_time_whichever_matches() -> None:
    """Timing-safe by construction: equal-length digests through ``hmac.compare_digest``, and
    every configured key compared on every check, so neither how much of a key was right nor
    which key matched changes the work done."""
    calls: list[tuple[int, int]] = []

    def compare(a: bytes, b: bytes) -> bool:
        calls.append((len(a), len(b)))
        return hmac.compare_digest(a, b)

    keys = ApiKeys([OLD, NEW, "third-key-000000000000"], compare=compare)
    verdicts = []
    for presented in (OLD, NEW, OLD[:-1] + "g", "x", "", None):
        calls.clear()
        verdicts.append(keys.allows(presented))
        assert calls == [(32, 32)] * 3, presented

    assert verdicts == [True, True, False, False, False, False]
