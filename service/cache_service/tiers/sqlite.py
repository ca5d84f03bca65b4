"""SQLite as the embedded durable store: one file, no server, survives restarts."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from ..errors import StoreUnavailable
from .ports import PutResult

T = TypeVar("T")

# Well under SQLITE_MAX_VARIABLE_NUMBER on every SQLite build still in use.
_CHUNK = 500

_SCHEMA = """
CREATE TABLE IF NOT EXISTS entries (
    key        TEXT PRIMARY KEY,
    value      TEXT NOT NULL,
    created_at REAL NOT NULL
) WITHOUT ROWID
"""


class SqliteStore:
    """Every call runs on one dedicated thread that owns the connection.

    sqlite3 blocks, so it must stay off the event loop; a single thread serialises access
    without locks and turns a whole put-if-absent batch into one hop and one transaction.
    WAL lets several processes share the file; ``synchronous=FULL`` makes a commit durable
    before the id it protects is returned.
    """

    name = "sqlite"

    def __init__(self, path: Path, *, timeout_s: float, retry_after_s: int) -> None:
        self._path = path
        self._timeout_s = timeout_s
        self._retry_after_s = retry_after_s
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite")
        self._connection: sqlite3.Connection | None = None

    async def _run(self, work: Callable[[sqlite3.Connection], T]) -> T:
        loop = asyncio.get_running_loop()
        call = loop.run_in_executor(self._executor, self._with_connection, work)
        try:
            return await asyncio.wait_for(call, self._timeout_s)
        except TimeoutError as exc:
            raise StoreUnavailable(
                f"sqlite store at {self._path} did not answer within {self._timeout_s}s",
                self._retry_after_s,
            ) from exc
        except sqlite3.Error as exc:
            raise StoreUnavailable(
                f"sqlite store at {self._path} failed: {exc}", self._retry_after_s
            ) from exc

    def _with_connection(self, work: Callable[[sqlite3.Connection], T]) -> T:
        if self._connection is None:
            self._connection = self._connect()
        return work(self._connection)

    def _connect(self) -> sqlite3.Connection:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        connection = sqlite3.connect(
            self._path, timeout=self._timeout_s, isolation_level=None, check_same_thread=False
        )
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=FULL")
        connection.execute(_SCHEMA)
        return connection

    async def get_many(self, keys: Sequence[str], *, consistent: bool = False) -> dict[str, str]:
        # A local file is always read-after-write consistent; ``consistent`` needs no work here.
        if not keys:
            return {}
        return await self._run(lambda connection: _select(connection, keys))

    async def put_if_absent(self, items: Mapping[str, str]) -> PutResult:
        if not items:
            return PutResult(stored={}, created=frozenset())
        return await self._run(lambda connection: _insert_absent(connection, items))

    async def ping(self) -> None:
        await self._run(lambda connection: connection.execute("SELECT 1").fetchone())

    async def aclose(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            await asyncio.get_running_loop().run_in_executor(self._executor, connection.close)
        self._executor.shutdown(wait=False)


def _select(connection: sqlite3.Connection, keys: Sequence[str]) -> dict[str, str]:
    found: dict[str, str] = {}
    for start in range(0, len(keys), _CHUNK):
        chunk = keys[start : start + _CHUNK]
        marks = ",".join("?" * len(chunk))
        rows = connection.execute(
            f"SELECT key, value FROM entries WHERE key IN ({marks})",  # noqa: S608 - only '?'
            chunk,
        )
        found.update(rows.fetchall())
    return found


def _insert_absent(connection: sqlite3.Connection, items: Mapping[str, str]) -> PutResult:
    now = time.time()
    created: set[str] = set()
    connection.execute("BEGIN IMMEDIATE")
    try:
        for key, value in items.items():
            cursor = connection.execute(
                "INSERT INTO entries (key, value, created_at) VALUES (?, ?, ?) "
                "ON CONFLICT(key) DO NOTHING",
                (key, value, now),
            )
            if cursor.rowcount == 1:
                created.add(key)
        stored = _select(connection, list(items))
        connection.execute("COMMIT")
    except BaseException:
        connection.execute("ROLLBACK")
        raise
    return PutResult(stored=stored, created=frozenset(created))
