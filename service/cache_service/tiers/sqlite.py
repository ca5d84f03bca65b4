"""SQLite as the embedded durable store: one file, no server, survives restarts."""

from __future__ import annotations

import asyncio
import logging
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
_BUSY_ATTEMPTS = 4

log = logging.getLogger(__name__)

_SCHEMA = (
    """
    CREATE TABLE IF NOT EXISTS entries (
        key        TEXT PRIMARY KEY,
        value      TEXT NOT NULL,
        created_at REAL NOT NULL
    ) WITHOUT ROWID
    """,
    # Leases of the processes sharing this file; wall-clock expiry, as they share one host.
    """
    CREATE TABLE IF NOT EXISTS leases (
        key        TEXT PRIMARY KEY,
        token      TEXT NOT NULL,
        expires_at REAL NOT NULL
    ) WITHOUT ROWID
    """,
)


class SqliteStore:
    """Every call runs on one dedicated thread that owns the connection.

    sqlite3 blocks, so it must stay off the event loop; a single thread serialises access
    without locks and turns a whole put-if-absent batch into one hop and one transaction.
    WAL lets several processes share the file; ``synchronous=FULL`` makes a commit durable
    before the id it protects is returned. Leases (see ``LeaseBackend``) go through a second
    connection without fsync: a lease lost in a crash only lets someone redo work.
    """

    name = "sqlite"

    def __init__(self, path: Path, *, timeout_s: float, retry_after_s: int) -> None:
        self._path = path
        self._timeout_s = timeout_s
        self._retry_after_s = retry_after_s
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite")
        self._connection: sqlite3.Connection | None = None
        self._lease_connection: sqlite3.Connection | None = None

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
        # Processes sharing the file can meet SQLITE_BUSY that the busy timeout does not cover
        # (switching a new file to WAL fails at once while another process does it); it
        # passes. Every ``work`` is a single statement or rolls its transaction back, so
        # running it again is safe.
        for attempt in range(_BUSY_ATTEMPTS - 1):
            try:
                return self._once(work)
            except sqlite3.OperationalError as exc:
                if not _is_busy(exc):
                    raise
                log.warning("sqlite store busy (%s); trying again", exc)
                time.sleep(0.01 * 2**attempt)
        return self._once(work)

    def _once(self, work: Callable[[sqlite3.Connection], T]) -> T:
        if self._connection is None:
            self._connection = self._connect("FULL")
        return work(self._connection)

    def _lease_connection_made(self) -> sqlite3.Connection:
        # Called inside ``_with_connection``, so the main connection (and schema) exists.
        if self._lease_connection is None:
            self._lease_connection = self._connect("OFF")
        return self._lease_connection

    def _connect(self, synchronous: str) -> sqlite3.Connection:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        connection = sqlite3.connect(
            self._path, timeout=self._timeout_s, isolation_level=None, check_same_thread=False
        )
        try:
            # Switching to WAL takes a lock, and fails at once (no busy wait) while another
            # process writes; once the file is in WAL mode, reading the mode needs no lock.
            if connection.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                connection.execute("PRAGMA journal_mode=WAL")
            connection.execute(f"PRAGMA synchronous={synchronous}")
            for statement in _SCHEMA:
                connection.execute(statement)
        except BaseException:
            connection.close()
            raise
        return connection

    async def _run_lease(self, work: Callable[[sqlite3.Connection], T]) -> T:
        return await self._run(lambda _: work(self._lease_connection_made()))

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

    async def acquire_lease(self, key: str, token: str, ttl_s: float) -> bool:
        def acquire(connection: sqlite3.Connection) -> bool:
            now = time.time()
            cursor = connection.execute(
                "INSERT INTO leases (key, token, expires_at) VALUES (?, ?, ?) "
                "ON CONFLICT(key) DO UPDATE SET token = excluded.token, "
                "expires_at = excluded.expires_at WHERE leases.expires_at <= ?",
                (key, token, now + ttl_s, now),
            )
            return cursor.rowcount == 1

        return await self._run_lease(acquire)

    async def renew_lease(self, key: str, token: str, ttl_s: float) -> bool:
        def renew(connection: sqlite3.Connection) -> bool:
            cursor = connection.execute(
                "UPDATE leases SET expires_at = ? WHERE key = ? AND token = ?",
                (time.time() + ttl_s, key, token),
            )
            return cursor.rowcount == 1

        return await self._run_lease(renew)

    async def release_lease(self, key: str, token: str) -> None:
        await self._run_lease(
            lambda connection: connection.execute(
                "DELETE FROM leases WHERE key = ? AND token = ?", (key, token)
            )
        )

    async def aclose(self) -> None:
        connections = [c for c in (self._connection, self._lease_connection) if c is not None]
        self._connection = self._lease_connection = None
        loop = asyncio.get_running_loop()
        for connection in connections:
            await loop.run_in_executor(self._executor, connection.close)
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


def _is_busy(exc: sqlite3.OperationalError) -> bool:
    message = str(exc).lower()
    return "locked" in message or "busy" in message
