"""Health, readiness, metrics and the OpenAPI document."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest

from cache_service.app import create_app
from cache_service.http.docs import CDN
from cache_service.http.failures import INTERNAL_ERROR, STORE_UNAVAILABLE
from cache_service.settings import Settings
from tests.http.conftest import Api, open_api


async def test_health_answers_without_io(api: Api) -> None:
    response = await api.client.get("/health")
    assert response.json() == {"status": "ok"}


async def test_ready_lists_every_tier(api: Api) -> None:
    response = await api.client.get("/ready")
    assert response.status_code == 200
    assert response.json() == {"status": "ready", "tiers": {"memory": "ok", "sqlite": "ok"}}


async def test_not_ready_and_503_on_post_when_the_store_cannot_be_opened(tmp_path: Path) -> None:
    # A directory where the database file should be: SQLite cannot open it.
    env = {"CACHE_SQLITE_PATH": str(tmp_path), "CACHE_RETRY_AFTER_S": "4"}
    async with open_api("in-process", env, tmp_path) as api:
        ready = await api.client.get("/ready")
        post = await api.client.post("/payload", json={"list_1": ["a"], "list_2": ["b"]})
    assert ready.status_code == 503
    assert ready.json()["status"] == "unavailable"
    assert ready.json()["tiers"]["sqlite"] == "error"
    assert post.status_code == 503
    assert post.headers["retry-after"] == "4"
    assert post.json()["detail"] == STORE_UNAVAILABLE


async def test_metrics_count_requests_by_route_template_and_cache_outcome(
    api: Api, word: str
) -> None:
    await api.client.post("/payload", json={"list_1": [word], "list_2": ["m"]})
    text = (await api.client.get("/metrics")).text
    assert (
        'cache_http_requests_total{cache="MISS",method="POST",route="/payload",status="201"}'
        in text
    )
    assert "cache_transformer_calls_total" in text
    assert 'cache_tier_lookups_total{outcome="miss",tier="memory"}' in text
    assert "cache_http_request_duration_seconds_bucket" in text


async def test_metrics_never_label_by_raw_path(api: Api) -> None:
    await api.client.get(f"/payload/{'1' * 64}")
    text = (await api.client.get("/metrics")).text
    assert "1" * 64 not in text
    assert 'route="/payload/{id}"' in text


@pytest.mark.parametrize(
    ("path", "method", "statuses"),
    [
        ("/payload", "post", {"200", "201", "408", "413", "415", "422", "502", "503", "504"}),
        ("/payload/{id}", "get", {"200", "304", "404", "422", "503"}),
    ],
)
async def test_openapi_documents_every_status_code(
    api: Api, path: str, method: str, statuses: set[str]
) -> None:
    document = (await api.client.get("/openapi.json")).json()
    assert set(document["paths"][path][method]["responses"]) == statuses


async def test_docs_page_is_served(api: Api) -> None:
    response = await api.client.get("/docs")
    assert response.status_code == 200
    assert "openapi.json" in response.text


async def test_docs_load_one_pinned_swagger_ui_version_checked_by_integrity(api: Api) -> None:
    page = (await api.client.get("/docs")).text
    assets = re.findall(r'(?:src|href)="(https://[^"]+)" integrity="sha384-[^"]+"', page)
    assert sorted(assets) == [
        f"{CDN}/swagger-ui-bundle.js",
        f"{CDN}/swagger-ui.css",
    ]
    assert re.search(r"swagger-ui-dist@\d+\.\d+\.\d+$", CDN)  # an exact version
    assert page.count("https://") == 2  # nothing else is fetched from elsewhere


async def test_redoc_is_not_served(api: Api) -> None:
    assert (await api.client.get("/redoc")).status_code == 404


async def test_openapi_states_the_limits_the_service_enforces(api: Api) -> None:
    document = (await api.client.get("/openapi.json")).json()
    body = document["paths"]["/payload"]["post"]["requestBody"]["content"]["application/json"]
    schema = body["schema"]
    for field in ("list_1", "list_2"):
        rules = schema["properties"][field]
        assert (rules["minItems"], rules["maxItems"]) == (1, 50)  # CACHE_MAX_ITEMS in the tests
        assert rules["items"]["maxLength"] == 200  # CACHE_MAX_STRING_LENGTH in the tests
    assert "same number of items" in schema["description"]
    assert schema["x-equal-lengths"] == ["list_1", "list_2"]


async def test_an_unexpected_exception_is_a_json_500_without_a_traceback(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    app = create_app(Settings(store="memory"))

    async def broken(id_: str) -> None:
        raise RuntimeError("a secret detail")

    monkeypatch.setattr(app.state.components.service, "fetch", broken)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        response = await client.get("/payload/" + "a" * 64)
    assert response.status_code == 500
    assert response.json()["detail"] == INTERNAL_ERROR
    assert response.json()["request_id"] == response.headers["x-request-id"]
    assert "a secret detail" not in response.text
