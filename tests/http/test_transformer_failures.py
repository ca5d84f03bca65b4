"""A failing transformer: a clear 502/504, nothing partial stored, recovery when it returns."""

from __future__ import annotations

from pathlib import Path

import pytest

from cache_service.http.failures import TRANSFORMER_FAILED, TRANSFORMER_TIMED_OUT
from cache_service.payload import payload_id
from tests.http.conftest import open_api, service_log
from tests.support.transformer_server import TransformerServer

MODES = ["in-process", "process"]
BODY = {"list_1": ["alpha", "beta"], "list_2": ["gamma", "alpha"]}


@pytest.mark.parametrize("mode", MODES)
async def test_a_failing_transformer_gives_502_and_the_retry_succeeds_once_it_recovers(
    mode: str, tmp_path: Path, transformer_server: TransformerServer
) -> None:
    transformer_server.mode = "fail"
    env = {"CACHE_TRANSFORMER_URL": transformer_server.url, "CACHE_TRANSFORMER_RETRIES": "1"}
    async with open_api(mode, env, tmp_path) as api:
        failed = await api.client.post("/payload", json=BODY)
        assert failed.status_code == 502
        assert failed.json()["detail"] == TRANSFORMER_FAILED

        id_ = payload_id(f"http:{transformer_server.url}", BODY["list_1"], BODY["list_2"])
        assert (await api.client.get(f"/payload/{id_}")).status_code == 404

        transformer_server.mode = "ok"
        recovered = await api.client.post("/payload", json=BODY)
        assert recovered.status_code == 201
        assert recovered.json() == {"id": id_, "output": "ALPHA, GAMMA, BETA, ALPHA"}


async def test_a_hanging_transformer_gives_504_within_the_timeout(
    tmp_path: Path, transformer_server: TransformerServer
) -> None:
    transformer_server.mode = "hang"
    env = {
        "CACHE_TRANSFORMER_URL": transformer_server.url,
        "CACHE_TRANSFORMER_TIMEOUT_S": "0.3",
    }
    async with open_api("process", env, tmp_path) as api:
        response = await api.client.post("/payload", json=BODY)
    assert response.status_code == 504
    assert response.json()["detail"] == TRANSFORMER_TIMED_OUT
    assert "did not answer within 0.3s" in service_log(tmp_path)


async def test_strings_finished_before_a_failure_are_kept_and_not_paid_for_again(
    tmp_path: Path, transformer_server: TransformerServer
) -> None:
    env = {"CACHE_TRANSFORMER_URL": transformer_server.url, "CACHE_TRANSFORMER_RETRIES": "0"}
    async with open_api("in-process", env, tmp_path) as api:
        await api.client.post("/payload", json={"list_1": ["alpha"], "list_2": ["beta"]})
        transformer_server.mode = "fail"
        failed = await api.client.post("/payload", json={"list_1": ["alpha"], "list_2": ["new"]})
        assert failed.status_code == 502
        transformer_server.mode = "ok"
        transformer_server.reset()
        ok = await api.client.post("/payload", json={"list_1": ["alpha"], "list_2": ["new"]})
    assert ok.status_code == 201
    assert dict(transformer_server.calls) == {"new": 1}


async def test_a_transformer_answering_garbage_gives_502(
    tmp_path: Path, transformer_server: TransformerServer, caplog: pytest.LogCaptureFixture
) -> None:
    transformer_server.mode = "garbage"
    env = {"CACHE_TRANSFORMER_URL": transformer_server.url}
    async with open_api("in-process", env, tmp_path) as api:
        response = await api.client.post("/payload", json=BODY)
    assert response.status_code == 502
    assert response.json()["detail"] == TRANSFORMER_FAILED
    assert "without a JSON 'output' field" in caplog.text
