"""A real service on a store that cannot write: /ready says so, and the log says why."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.support.filesystems import fill, read_only, small_disk
from tests.support.processes import ServiceProcess


def _env(database: Path) -> dict[str, str]:
    return {"CACHE_SQLITE_PATH": str(database), "CACHE_TRANSFORMER_DELAY_MS": "1"}


async def test_a_read_only_file_makes_the_service_unavailable_with_the_cause_in_the_log(
    tmp_path: Path,
) -> None:
    database = tmp_path / "cache.db"
    with ServiceProcess(env=_env(database), workdir=tmp_path) as first:
        async with httpx.AsyncClient(base_url=first.url, timeout=30) as client:
            stored = await client.post("/payload", json={"list_1": ["a"], "list_2": ["b"]})
    assert stored.status_code == 201
    with read_only(database), ServiceProcess(env=_env(database), workdir=tmp_path) as service:
        async with httpx.AsyncClient(base_url=service.url, timeout=30) as client:
            ready = await client.get("/ready")
            old = await client.get(f"/payload/{stored.json()['id']}")
            new = await client.post("/payload", json={"list_1": ["c"], "list_2": ["d"]})
        log = service.log()
    print(f"\n/ready: {ready.status_code} {ready.text}\nnew payload: {new.status_code} {new.text}")
    assert ready.status_code == 503
    assert ready.json() == {"status": "unavailable", "tiers": {"memory": "ok", "sqlite": "error"}}
    assert old.status_code == 200  # What is stored is still served.
    assert new.status_code == 503
    assert str(tmp_path) not in ready.text + new.text
    assert "readiness check of sqlite failed" in log
    assert "attempt to write a readonly database (SQLITE_READONLY)" in log


async def test_a_full_disk_makes_the_service_unavailable_until_there_is_room_again(
    tmp_path: Path,
) -> None:
    with (
        small_disk(tmp_path / "disk") as disk,
        ServiceProcess(env=_env(disk / "cache.db"), workdir=tmp_path) as service,
    ):
        async with httpx.AsyncClient(base_url=service.url, timeout=30) as client:
            before = await client.get("/ready")
            filler = fill(disk)
            full = await client.get("/ready")
            refused = await client.post("/payload", json={"list_1": ["e"], "list_2": ["f"]})
            filler.unlink()
            after = await client.get("/ready")
            accepted = await client.post("/payload", json={"list_1": ["e"], "list_2": ["f"]})
        log = service.log()
    print(f"\n/ready on a full disk: {full.status_code} {full.text}; payload: {refused.text}")
    assert (before.status_code, full.status_code, after.status_code) == (200, 503, 200)
    assert refused.status_code == 503
    assert accepted.status_code == 201  # Nothing half-written was left in its way.
    assert accepted.json()["output"] == "E, F"
    assert "database or disk is full (SQLITE_FULL)" in log
    assert "cannot rollback" not in log
