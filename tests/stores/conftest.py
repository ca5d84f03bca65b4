"""Fixtures of the unit tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from cache_service.stores.sqlite import SqliteStore


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    """A real SQLite store in a fresh file."""
    store = SqliteStore(tmp_path / "cache.db", timeout_s=5, retry_after_s=1)
    yield store
    await store.aclose()
