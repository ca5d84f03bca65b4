"""The embedded durable store: batch reads, durability, deadlines, failure (claims: the
shared specification in tests/integration/test_claim_stores.py)."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from cache_service.errors import StoreUnavailable
from cache_service.stores.sqlite import SqliteStore


async def test_get_many_reads_more_keys_than_one_sql_statement_takes(store: SqliteStore) -> None:
    items = {f"key-{i}": f"value-{i}" for i in range(1_234)}
    await store.complete(items, "t")
    found = await store.get_many([*items, "absent"])
    assert found == items


async def test_values_survive_closing_and_reopening_the_file(tmp_path: Path) -> None:
    first = SqliteStore(tmp_path / "cache.db", timeout_s=5, retry_after_s=1)
    await first.complete({"k": "v"}, "t")
    await first.aclose()
    second = SqliteStore(tmp_path / "cache.db", timeout_s=5, retry_after_s=1)
    try:
        assert await second.get_many(["k"]) == {"k": "v"}
    finally:
        await second.aclose()


async def test_an_unopenable_file_is_reported_as_unavailable(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path, timeout_s=5, retry_after_s=7)  # a directory, not a file
    with pytest.raises(StoreUnavailable) as raised:
        await store.complete({"k": "v"}, "t")
    assert raised.value.retry_after_s == 7
    await store.aclose()


async def test_non_ascii_values_round_trip(store: SqliteStore) -> None:
    await store.complete({"k": "ÉTÉ ☃ 中文"}, "t")
    assert await store.get_many(["k"]) == {"k": "ÉTÉ ☃ 中文"}


async def test_a_call_that_timed_out_does_not_take_effect_later(tmp_path: Path) -> None:
    # Another process holds the write lock longer than the caller's bound. The worker thread
    # must give up with its caller, not retry on until the lock frees and then write.
    path = tmp_path / "locked.db"
    store = SqliteStore(path, timeout_s=0.5, retry_after_s=1)
    await store.get_many(["warm"])  # The file exists, in WAL mode.
    locker = sqlite3.connect(path, isolation_level=None)
    locker.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(StoreUnavailable):
            await store.complete({"k": "late"}, "t")
    finally:
        await asyncio.sleep(0.3)  # The lock frees while a retrying worker would still run.
        locker.execute("ROLLBACK")
        locker.close()
    await asyncio.sleep(1.5)
    try:
        assert await store.get_many(["k"]) == {}
    finally:
        await store.aclose()


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Another process's write transaction on ``path`` for the block: writers wait on it."""
    locker = sqlite3.connect(path, isolation_level=None)
    locker.execute("BEGIN IMMEDIATE")
    try:
        yield
    finally:
        locker.execute("ROLLBACK")
        locker.close()


async def test_a_claim_cut_off_by_its_callers_deadline_leaves_no_claim_behind(
    tmp_path: Path,
) -> None:
    # The request's deadline (shorter than the store's bound) cuts the claim off while the
    # worker waits for another process's lock; the worker then claims. Nobody would release
    # that claim: the store must.
    path = tmp_path / "locked.db"
    store = SqliteStore(path, timeout_s=5, retry_after_s=1)
    await store.get_many(["warm"])
    with _locked(path), pytest.raises(TimeoutError):
        await asyncio.wait_for(store.claim(["k"], "cut-off", 30), 0.2)
    await asyncio.sleep(0.5)
    try:
        assert (await store.claim(["k"], "next", 30)).claimed == {"k"}
    finally:
        await store.aclose()


async def test_calls_queued_behind_a_stuck_one_answer_once_it_frees(tmp_path: Path) -> None:
    path = tmp_path / "locked.db"
    store = SqliteStore(path, timeout_s=0.5, retry_after_s=1)
    await store.get_many(["warm"])
    with _locked(path), pytest.raises(StoreUnavailable):
        await store.complete({"k": "v"}, "t")
    # The only worker thread is free again at once: the next write is not queued behind a
    # retry loop of the abandoned one (before, up to four busy timeouts).
    completion = await store.complete({"k": "v"}, "t")
    assert completion.created == {"k"}
    await store.aclose()


_FIRST_WRITES = """
import asyncio, sys, time
from collections.abc import Iterator
from pathlib import Path
from cache_service.stores.sqlite import SqliteStore

async def main() -> None:
    folder, start, name = Path(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
    for n in range(20):  # 20 new files, each opened by every process at the same moment
        store = SqliteStore(folder / f"{n}.db", timeout_s=5, retry_after_s=1)
        while time.time() < start + n * 0.1:
            pass
        try:
            await store.complete({name: "v"}, "t")
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
