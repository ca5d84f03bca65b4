"""Request ids, and failures that tell the client a stable sentence and the log the cause."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest

from cache_service.app import create_app
from cache_service.settings import Settings
from tests.http.conftest import Api, open_api, service_log
from tests.support.transformer_server import DENIAL, TransformerServer

HEX_ID = re.compile(r"[0-9a-f]{32}")
BODY = {"list_1": ["alpha"], "list_2": ["beta"]}


async def test_every_response_carries_a_fresh_request_id(api: Api) -> None:
    first = await api.client.get("/health")
    second = await api.client.get(f"/payload/{'0' * 64}")
    assert HEX_ID.fullmatch(first.headers["x-request-id"])
    assert HEX_ID.fullmatch(second.headers["x-request-id"])
    assert first.headers["x-request-id"] != second.headers["x-request-id"]


async def test_a_clients_printable_request_id_is_returned_as_sent(api: Api) -> None:
    response = await api.client.get("/health", headers={"x-request-id": "client-7:trace/42"})
    assert response.headers["x-request-id"] == "client-7:trace/42"


@pytest.mark.parametrize("sent", ["has space", "x" * 129, "tab\there", ""])
async def test_an_unprintable_or_overlong_request_id_is_replaced(api: Api, sent: str) -> None:
    response = await api.client.get("/health", headers={"x-request-id": sent})
    assert HEX_ID.fullmatch(response.headers["x-request-id"])


async def test_a_validation_error_carries_the_request_id_header(api: Api) -> None:
    response = await api.client.post("/payload", json={"list_1": ["a"]})
    assert response.status_code == 422
    assert HEX_ID.fullmatch(response.headers["x-request-id"])


@pytest.mark.parametrize("mode", ["in-process", "process"])
async def test_a_transformer_failure_hides_its_answer_and_url_from_the_client(
    mode: str, tmp_path: Path, transformer_server: TransformerServer
) -> None:
    transformer_server.mode = "deny"
    env = {"CACHE_TRANSFORMER_URL": transformer_server.url}
    async with open_api(mode, env, tmp_path) as api:
        response = await api.client.post("/payload", json=BODY, headers={"x-request-id": "r-502"})
    assert response.status_code == 502
    assert response.json() == {
        "detail": "the transformer failed; quote the request id to the operator",
        "request_id": "r-502",
    }
    assert response.headers["x-request-id"] == "r-502"
    for leak in ("sk-live-123", "/srv/", "127.0.0.1", str(transformer_server.port)):
        assert leak not in response.text


async def test_the_log_holds_the_transformers_answer_under_the_request_id(
    tmp_path: Path, transformer_server: TransformerServer
) -> None:
    transformer_server.mode = "deny"
    env = {"CACHE_TRANSFORMER_URL": transformer_server.url}
    async with open_api("process", env, tmp_path) as api:
        await api.client.post("/payload", json=BODY, headers={"x-request-id": "r-logged"})
    lines = [line for line in service_log(tmp_path).splitlines() if "[r-logged]" in line]
    assert any(DENIAL in line and transformer_server.url in line for line in lines), lines


async def test_a_store_failure_hides_the_file_path_from_the_client(tmp_path: Path) -> None:
    # A directory where the database file should be: SQLite cannot open it.
    env = {"CACHE_SQLITE_PATH": str(tmp_path)}
    async with open_api("process", env, tmp_path) as api:
        post = await api.client.post("/payload", json=BODY, headers={"x-request-id": "r-503"})
        ready = await api.client.get("/ready")
    assert post.status_code == 503
    assert post.json() == {
        "detail": "the durable store is unavailable; retry after Retry-After seconds",
        "request_id": "r-503",
    }
    assert ready.json()["tiers"]["sqlite"] == "error"
    assert str(tmp_path) not in post.text + ready.text
    log = service_log(tmp_path)
    assert any("[r-503]" in line and str(tmp_path) in line for line in log.splitlines())


async def test_behind_a_shared_cache_a_get_by_id_carries_nothing_of_its_request() -> None:
    settings = Settings(store="memory", transformer_delay_ms=0, shared_cache=True)
    app = create_app(settings)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        posted = await client.post(
            "/payload", json={"list_1": ["a"], "list_2": ["b"]}, headers={"X-Request-ID": "p"}
        )
        got = await client.get(f"/payload/{posted.json()['id']}", headers={"X-Request-ID": "g"})
        missing = await client.get(f"/payload/{'0' * 64}", headers={"X-Request-ID": "m"})
    await app.state.components.aclose()

    assert posted.headers["x-request-id"] == "p"
    assert "x-request-id" not in got.headers
    assert "x-cache-tier" not in got.headers
    assert got.headers["x-cache"] == "HIT"
    assert "x-request-id" not in missing.headers
