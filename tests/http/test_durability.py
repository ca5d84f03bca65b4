"""SQLite keeps every result across a restart of the service process."""

from __future__ import annotations

from pathlib import Path

from tests.http.conftest import open_api


async def test_results_survive_a_restart_and_are_not_recomputed(tmp_path: Path) -> None:
    body = {"list_1": ["kept"], "list_2": ["safe"]}
    async with open_api("process", {}, tmp_path) as first:
        created = await first.client.post("/payload", json=body)
    assert created.status_code == 201

    async with open_api("process", {}, tmp_path) as second:
        fetched = await second.client.get(f"/payload/{created.json()['id']}")
        again = await second.client.post("/payload", json=body)
        calls = await second.transformed_strings()
    assert fetched.json() == created.json()
    assert again.status_code == 200
    assert calls == 0


async def test_a_memory_store_forgets_on_restart(tmp_path: Path) -> None:
    body = {"list_1": ["gone"], "list_2": ["soon"]}
    async with open_api("process", {"CACHE_STORE": "memory"}, tmp_path) as first:
        created = await first.client.post("/payload", json=body)
    async with open_api("process", {"CACHE_STORE": "memory"}, tmp_path) as second:
        fetched = await second.client.get(f"/payload/{created.json()['id']}")
    assert fetched.status_code == 404
