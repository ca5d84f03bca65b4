"""SQLite as the embedded durable store: one file, no server, survives restarts."""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TypeVar

from ..coordination.claims import ClaimResult, Completion
from ..errors import StoreUnavailable
from .bounded_executor import BoundedExecutor, DeadlinePassed, check

T = TypeVar("T")

# Rows per statement: three parameters each stays well under SQLITE_MAX_VARIABLE_NUMBER
# (32766 since SQLite 3.32). RETURNING needs SQLite 3.35 (2021), in every Python since 3.11's
# official builds.
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
    # Claims on work not completed yet; wall-clock expiry, as the processes share one host.
    # A completed key has a row in ``entries`` and none here: completing moves it over.
    """
    CREATE TABLE IF NOT EXISTS claims (
        key        TEXT PRIMARY KEY,
        token      TEXT NOT NULL,
        expires_at REAL NOT NULL
    ) WITHOUT ROWID
    """,
    "DROP TABLE IF EXISTS leases",  # Left by versions before claims.
    # One row, rewritten by every readiness check: a file that reads but cannot be written
    # (read-only, full disk) must not be reported ready.
    """
    CREATE TABLE IF NOT EXISTS probe (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        checked_at REAL NOT NULL
    )
    """,
)


class SqliteStore:
    """Every call runs on one dedicated thread that owns the connection.

    sqlite3 blocks, so it must stay off the event loop; a single thread serialises access
    without locks and turns a whole batch of claims or completions into one hop and one
    transaction. WAL lets several processes share the file; ``synchronous=FULL`` makes a
    commit durable before the id it protects is returned.

    The caller's deadline travels into the thread: a call never starts after it, and waits for
    another process's lock only until it, so a call the caller gave up on cannot take effect
    later, nor hold the only thread for the calls behind it.
    """

    name = "sqlite"

    def __init__(
        self,
        path: Path,
        *,
        timeout_s: float,
        retry_after_s: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """``clock`` is the wall clock claims expire by (processes sharing the file share it)."""
        self._path = path
        self._clock = clock
        self._retry_after_s = retry_after_s
        self._calls = BoundedExecutor(
            timeout_s=timeout_s, max_workers=1, thread_name_prefix="sqlite"
        )
        self._connection: sqlite3.Connection | None = None

    async def _run(
        self,
        work: Callable[[sqlite3.Connection], T],
        undo: Callable[[sqlite3.Connection, T], None] | None = None,
    ) -> T:
        def reverse(result: T, deadline: float) -> None:
            assert undo is not None
            self._with_connection(lambda connection: undo(connection, result), deadline)

        try:
            return await self._calls.run(
                lambda deadline: self._with_connection(work, deadline),
                undo=reverse if undo is not None else None,
            )
        except DeadlinePassed as exc:
            raise StoreUnavailable(
                f"sqlite store did not answer within {self._calls.timeout_s}s",
                self._retry_after_s,
            ) from exc
        except sqlite3.Error as exc:
            cause = f"{exc} ({exc.sqlite_errorname})" if exc.sqlite_errorname else str(exc)
            log.warning("sqlite store at %s failed: %s", self._path, cause)
            raise StoreUnavailable(f"sqlite store failed: {cause}", self._retry_after_s) from exc
        except OSError as exc:
            # Making the file's folder (a read-only parent, a full disk); the path is only
            # logged, never put in what a client may see.
            log.warning("sqlite store at %s failed: %s", self._path, exc)
            raise StoreUnavailable(
                f"sqlite store failed: {exc.strerror}", self._retry_after_s
            ) from exc

    def _with_connection(self, work: Callable[[sqlite3.Connection], T], deadline: float) -> T:
        # Processes sharing the file can meet SQLITE_BUSY that the busy timeout does not cover
        # (switching a new file to WAL fails at once while another process does it); it
        # passes. Every ``work`` is a single statement or rolls its transaction back, so
        # running it again is safe.
        for attempt in range(_BUSY_ATTEMPTS):
            check(deadline)
            remaining = deadline - time.monotonic()
            try:
                connection = self._connected(remaining)
                connection.execute(f"PRAGMA busy_timeout = {max(1, int(remaining * 1000))}")
                return work(connection)
            except sqlite3.OperationalError as exc:
                if not _is_busy(exc) or attempt == _BUSY_ATTEMPTS - 1:
                    raise
                log.warning("sqlite store busy (%s); trying again", exc)
                time.sleep(min(0.01 * 2**attempt, max(0.0, deadline - time.monotonic())))
        raise DeadlinePassed  # Not reached: the last attempt returns or raises.

    def _connected(self, timeout_s: float) -> sqlite3.Connection:
        if self._connection is None:
            self._path.parent.mkdir(parents=True, exist_ok=True)
            connection = sqlite3.connect(
                self._path, timeout=timeout_s, isolation_level=None, check_same_thread=False
            )
            try:
                # Switching to WAL takes a lock, and fails at once (no busy wait) while another
                # process writes; once the file is in WAL mode, reading the mode needs no lock.
                if connection.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                    connection.execute("PRAGMA journal_mode=WAL")
                connection.execute("PRAGMA synchronous=FULL")
                for statement in _SCHEMA:
                    connection.execute(statement)
            except BaseException:
                connection.close()
                raise
            self._connection = connection
        return self._connection

    async def get_many(self, keys: Sequence[str], *, consistent: bool = False) -> dict[str, str]:
        # A local file is always read-after-write consistent; ``consistent`` needs no work here.
        if not keys:
            return {}
        return await self._run(lambda connection: _select(connection, keys))

    async def claim(self, keys: Sequence[str], token: str, ttl_s: float) -> ClaimResult:
        if not keys:
            return ClaimResult({}, frozenset(), frozenset())
        now = self._clock()

        def undo(connection: sqlite3.Connection, result: ClaimResult) -> None:
            # The claim landed after its caller gave up: nobody would release it.
            _release(connection, list(result.claimed), token)

        return await self._run(lambda connection: _claim(connection, keys, token, ttl_s, now), undo)

    async def renew(self, keys: Sequence[str], token: str, ttl_s: float) -> frozenset[str]:
        def renew(connection: sqlite3.Connection) -> frozenset[str]:
            expires_at = self._clock() + ttl_s
            with _without_fsync(connection):
                return _renew(connection, keys, token, expires_at)

        return await self._run(renew)

    async def complete(
        self, items: Mapping[str, str], token: str, *, flush: bool = True
    ) -> Completion:
        if not items:
            return Completion(stored={}, created=frozenset())

        now = self._clock()

        def complete(connection: sqlite3.Connection) -> Completion:
            if flush:
                return _complete(connection, items, token, now)
            # The WAL is one file written in order: the next flushed commit (the payload's)
            # puts these rows on disk with it.
            with _without_fsync(connection):
                return _complete(connection, items, token, now)

        return await self._run(complete)

    async def release(self, keys: Sequence[str], token: str) -> None:
        await self._run(lambda connection: _release(connection, keys, token))

    async def ping(self) -> None:
        """A real write, committed and flushed like an id's: reading alone succeeds on a
        read-only file or a full disk, where every miss would fail."""

        def probe(connection: sqlite3.Connection) -> None:
            with _transaction(connection):
                connection.execute(
                    "INSERT INTO probe (id, checked_at) VALUES (1, ?) "
                    "ON CONFLICT(id) DO UPDATE SET checked_at = excluded.checked_at",
                    (self._clock(),),
                )

        await self._run(probe)

    async def aclose(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            await self._calls.run_unbounded(connection.close)
        self._calls.shutdown()


def _chunks(keys: Sequence[str]) -> list[Sequence[str]]:
    return [keys[start : start + _CHUNK] for start in range(0, len(keys), _CHUNK)]


def _marks(chunk: Sequence[str]) -> str:
    return ",".join("?" * len(chunk))


def _select(connection: sqlite3.Connection, keys: Sequence[str]) -> dict[str, str]:
    found: dict[str, str] = {}
    for chunk in _chunks(keys):
        rows = connection.execute(
            f"SELECT key, value FROM entries WHERE key IN ({_marks(chunk)})",  # noqa: S608 - only '?'
            chunk,
        )
        found.update(rows.fetchall())
    return found


@contextlib.contextmanager
def _without_fsync(connection: sqlite3.Connection) -> Iterator[None]:
    """Commits that skip the disk flush (WAL still keeps them atomic), for what a power cut may
    lose at the cost of redoing work: claims, and values no id points at yet. Everything is
    on disk before an id is returned: that commit is flushed (``synchronous=FULL``, the
    connection's setting), and it carries the earlier ones in the WAL with it."""
    connection.execute("PRAGMA synchronous=NORMAL")
    try:
        yield
    finally:
        connection.execute("PRAGMA synchronous=FULL")


@contextlib.contextmanager
def _transaction(connection: sqlite3.Connection) -> Iterator[None]:
    connection.execute("BEGIN IMMEDIATE")
    try:
        yield
        connection.execute("COMMIT")
    except BaseException:
        # SQLite has already rolled back after some failures (a full disk): a second
        # rollback would replace the real cause with "no transaction is active".
        if connection.in_transaction:
            connection.execute("ROLLBACK")
        raise


def _claim(
    connection: sqlite3.Connection, keys: Sequence[str], token: str, ttl_s: float, now: float
) -> ClaimResult:
    claimed: set[str] = set()
    with _without_fsync(connection), _transaction(connection):
        completed = _select(connection, keys)
        free = [key for key in keys if key not in completed]
        for chunk in _chunks(free):
            # One statement per chunk; RETURNING names the rows inserted or taken over.
            rows = connection.execute(
                "INSERT INTO claims (key, token, expires_at) VALUES "  # noqa: S608 - only '?'
                + ",".join(["(?, ?, ?)"] * len(chunk))
                + " ON CONFLICT(key) DO UPDATE SET token = excluded.token, "
                "expires_at = excluded.expires_at "
                "WHERE claims.expires_at <= ? OR claims.token = excluded.token RETURNING key",
                [*(v for key in chunk for v in (key, token, now + ttl_s)), now],
            )
            claimed.update(key for (key,) in rows.fetchall())
    held = frozenset(key for key in keys if key not in completed and key not in claimed)
    return ClaimResult(completed, frozenset(claimed), held)


def _complete(
    connection: sqlite3.Connection, items: Mapping[str, str], token: str, now: float
) -> Completion:
    created: set[str] = set()
    holders: dict[str, str] = {}
    keys = list(items)
    with _transaction(connection):
        for chunk in _chunks(keys):
            rows = connection.execute(
                f"SELECT key, token FROM claims WHERE key IN ({_marks(chunk)})",  # noqa: S608
                chunk,
            )
            holders.update(rows.fetchall())
            rows = connection.execute(
                "INSERT INTO entries (key, value, created_at) VALUES "  # noqa: S608 - only '?'
                + ",".join(["(?, ?, ?)"] * len(chunk))
                + " ON CONFLICT(key) DO NOTHING RETURNING key",
                [v for key in chunk for v in (key, items[key], now)],
            )
            created.update(key for (key,) in rows.fetchall())
            connection.execute(
                f"DELETE FROM claims WHERE key IN ({_marks(chunk)})",  # noqa: S608 - only '?'
                chunk,
            )
        # Where another value was there first, it is the one stored.
        stored = {key: items[key] for key in created}
        stored.update(_select(connection, [key for key in keys if key not in created]))
    lapsed = frozenset(key for key in keys if holders.get(key) != token)
    return Completion(stored=stored, created=frozenset(created), lapsed=lapsed)


def _renew(
    connection: sqlite3.Connection, keys: Sequence[str], token: str, expires_at: float
) -> frozenset[str]:
    """The keys among ``keys`` that ``token`` no longer holds."""
    held: set[str] = set()
    for chunk in _chunks(keys):
        rows = connection.execute(
            "UPDATE claims SET expires_at = ? "  # noqa: S608 - only '?' marks
            f"WHERE token = ? AND key IN ({_marks(chunk)}) RETURNING key",
            (expires_at, token, *chunk),
        )
        held.update(key for (key,) in rows.fetchall())
    return frozenset(key for key in keys if key not in held)


def _release(connection: sqlite3.Connection, keys: Sequence[str], token: str) -> None:
    with _without_fsync(connection):
        for chunk in _chunks(keys):
            connection.execute(
                f"DELETE FROM claims WHERE token = ? AND key IN ({_marks(chunk)})",  # noqa: S608
                (token, *chunk),
            )


def _is_busy(exc: sqlite3.OperationalError) -> bool:
    message = str(exc).lower()
    return "locked" in message or "busy" in message
