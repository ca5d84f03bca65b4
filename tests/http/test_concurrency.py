"""Concurrent identical work runs once: one 201, the rest 200, one transformer call a string."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.http.conftest import open_api
from tests.support.transformer_server import TransformerServer

MODES = ["in-process", "process"]


@pytest.mark.parametrize("mode", MODES)
async def test_40_identical_concurrent_posts_compute_once(
    mode: str, tmp_path: Path, transformer_server: TransformerServer
) -> None:
    transformer_server.delay_s = 0.2  # long enough that all 40 arrive while it runs
    body = {"list_1": ["a", "b", "c"], "list_2": ["d", "a", "e"]}
    env = {"CACHE_TRANSFORMER_URL": transformer_server.url}
    async with open_api(mode, env, tmp_path) as api:
        responses = await asyncio.gather(
            *(api.client.post("/payload", json=body) for _ in range(40))
        )
    statuses = sorted(response.status_code for response in responses)
    assert statuses == [200] * 39 + [201]
    assert len({response.content for response in responses}) == 1
    assert dict(transformer_server.calls) == {"a": 1, "b": 1, "c": 1, "d": 1, "e": 1}


@pytest.mark.parametrize("mode", MODES)
async def test_different_payloads_in_flight_share_the_work_for_common_strings(
    mode: str, tmp_path: Path, transformer_server: TransformerServer
) -> None:
    transformer_server.delay_s = 0.2
    bodies = [
        {"list_1": ["shared", f"own-{i}"], "list_2": [f"own-{i}", "shared"]} for i in range(10)
    ]
    env = {"CACHE_TRANSFORMER_URL": transformer_server.url}
    async with open_api(mode, env, tmp_path) as api:
        responses = await asyncio.gather(*(api.client.post("/payload", json=b) for b in bodies))
    assert [response.status_code for response in responses] == [201] * 10
    assert transformer_server.calls["shared"] == 1
    assert transformer_server.total_calls == 11


async def test_the_distinct_strings_of_one_payload_are_transformed_concurrently_within_the_bound(
    tmp_path: Path, transformer_server: TransformerServer
) -> None:
    transformer_server.delay_s = 0.1
    items = [f"s{i}" for i in range(24)]
    env = {"CACHE_TRANSFORMER_URL": transformer_server.url, "CACHE_TRANSFORMER_CONCURRENCY": "8"}
    async with open_api("in-process", env, tmp_path) as api:
        response = await api.client.post("/payload", json={"list_1": items, "list_2": items})
    assert response.status_code == 201
    assert transformer_server.max_in_flight == 8
    assert transformer_server.total_calls == 24
