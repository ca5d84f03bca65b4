"""The embedded durable store: put-if-absent, batch reads, durability, failure."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cache_service.errors import StoreUnavailable
from cache_service.tiers.sqlite import SqliteStore


async def test_put_if_absent_creates_a_missing_key(store: SqliteStore) -> None:
    result = await store.put_if_absent({"k": "v"})
    assert result.created == {"k"}
    assert result.stored == {"k": "v"}


async def test_put_if_absent_keeps_the_earlier_value_and_reports_it(store: SqliteStore) -> None:
    await store.put_if_absent({"k": "first"})
    result = await store.put_if_absent({"k": "second", "j": "new"})
    assert result.created == {"j"}
    assert result.stored == {"k": "first", "j": "new"}


async def test_get_many_reads_more_keys_than_one_sql_statement_takes(store: SqliteStore) -> None:
    items = {f"key-{i}": f"value-{i}" for i in range(1_234)}
    await store.put_if_absent(items)
    found = await store.get_many([*items, "absent"])
    assert found == items


async def test_values_survive_closing_and_reopening_the_file(tmp_path: Path) -> None:
    first = SqliteStore(tmp_path / "cache.db", timeout_s=5, retry_after_s=1)
    await first.put_if_absent({"k": "v"})
    await first.aclose()
    second = SqliteStore(tmp_path / "cache.db", timeout_s=5, retry_after_s=1)
    try:
        assert await second.get_many(["k"]) == {"k": "v"}
    finally:
        await second.aclose()


async def test_an_unopenable_file_is_reported_as_unavailable(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path, timeout_s=5, retry_after_s=7)  # a directory, not a file
    with pytest.raises(StoreUnavailable) as raised:
        await store.put_if_absent({"k": "v"})
    assert raised.value.retry_after_s == 7
    await store.aclose()


async def test_non_ascii_values_round_trip(store: SqliteStore) -> None:
    await store.put_if_absent({"k": "ÉTÉ ☃ 中文"})
    assert await store.get_many(["k"]) == {"k": "ÉTÉ ☃ 中文"}


async def test_a_lease_excludes_a_second_holder_until_released(store: SqliteStore) -> None:
    assert await store.acquire_lease("work", "token-a", ttl_s=30)
    assert not await store.acquire_lease("work", "token-b", ttl_s=30)
    await store.release_lease("work", "token-a")
    assert await store.acquire_lease("work", "token-b", ttl_s=30)


async def test_an_expired_lease_can_be_taken_over(store: SqliteStore) -> None:
    assert await store.acquire_lease("work", "token-a", ttl_s=0.05)
    await asyncio.sleep(0.1)
    assert await store.acquire_lease("work", "token-b", ttl_s=30)
    assert not await store.renew_lease("work", "token-a", ttl_s=30)


async def test_only_the_holder_releases_or_renews_a_lease(store: SqliteStore) -> None:
    assert await store.acquire_lease("work", "token-a", ttl_s=30)
    await store.release_lease("work", "token-b")
    assert not await store.renew_lease("work", "token-b", ttl_s=30)
    assert not await store.acquire_lease("work", "token-c", ttl_s=30)


async def test_a_lease_is_shared_by_two_stores_on_one_file(tmp_path: Path) -> None:
    first = SqliteStore(tmp_path / "shared.db", timeout_s=5, retry_after_s=1)
    second = SqliteStore(tmp_path / "shared.db", timeout_s=5, retry_after_s=1)
    try:
        assert await first.acquire_lease("work", "token-a", ttl_s=30)
        assert not await second.acquire_lease("work", "token-b", ttl_s=30)
    finally:
        await first.aclose()
        await second.aclose()


_FIRST_WRITES = """
import asyncio, sys, time
from pathlib import Path
from cache_service.tiers.sqlite import SqliteStore

async def main() -> None:
    folder, start, name = Path(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
    for n in range(20):  # 20 new files, each opened by every process at the same moment
        store = SqliteStore(folder / f"{n}.db", timeout_s=5, retry_after_s=1)
        while time.time() < start + n * 0.1:
            pass
        try:
            await store.put_if_absent({name: "v"})
        finally:
            await store.aclose()

asyncio.run(main())
"""


def test_processes_opening_new_files_at_the_same_moment_all_succeed(tmp_path: Path) -> None:
    # Switching a new file to WAL takes a lock that can fail at once, without a busy wait,
    # while another process switches it: two services starting together answered 503.
    start = time.time() + 1.0
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", _FIRST_WRITES, str(tmp_path), str(start), f"key-{n}"],
            stderr=subprocess.PIPE,
        )
        for n in range(3)
    ]
    errors = [p.communicate(timeout=60)[1].decode()[-500:] for p in processes]
    assert [p.returncode for p in processes] == [0, 0, 0], errors
