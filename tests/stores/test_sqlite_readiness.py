"""The SQLite store's readiness check writes, so a file that only reads is not ready."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from cache_service.errors import StoreUnavailable
from cache_service.stores.sqlite import SqliteStore
from tests.support.filesystems import fill, read_only, small_disk


def _store(path: Path) -> SqliteStore:
    return SqliteStore(path, timeout_s=5, retry_after_s=1)


async def test_a_writable_store_is_ready(store: SqliteStore) -> None:
    await store.ping()
    await store.ping()  # The probe row is rewritten, not added.


async def test_a_read_only_file_still_reads_but_is_not_ready(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "cache.db"
    first = _store(path)
    await first.complete({"k": "v"}, "t")
    await first.aclose()
    with read_only(path):
        store = _store(path)
        try:
            found = await store.get_many(["k"])
            with pytest.raises(StoreUnavailable) as raised:
                await store.ping()
        finally:
            await store.aclose()
    assert found == {"k": "v"}  # A read-only probe ("SELECT 1") would have said ready.
    assert "attempt to write a readonly database (SQLITE_READONLY)" in str(raised.value)
    assert str(tmp_path) not in str(raised.value)
    assert "readonly database" in caplog.text


async def test_a_folder_where_the_file_cannot_be_made_is_unavailable_not_an_error(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "locked"
    folder.mkdir()
    with read_only(folder):
        store = _store(folder / "new" / "cache.db")
        try:
            with pytest.raises(StoreUnavailable) as raised:
                await store.ping()
        finally:
            await store.aclose()
    # EACCES for a user, EPERM for root meeting the immutable attribute; the path stays out.
    assert str(raised.value) in {
        "sqlite store failed: Permission denied",
        "sqlite store failed: Operation not permitted",
    }


async def test_a_full_disk_is_not_ready_and_the_log_names_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    with small_disk(tmp_path / "disk") as disk:
        store = _store(disk / "cache.db")
        try:
            await store.ping()
            filler = fill(disk)
            with pytest.raises(StoreUnavailable) as full:
                await store.ping()
            filler.unlink()
            await store.ping()  # Ready again once there is room.
        finally:
            await store.aclose()
    assert "database or disk is full (SQLITE_FULL)" in str(full.value)
    assert "database or disk is full" in caplog.text
    assert "cannot rollback" not in caplog.text
