"""Numbered lines of a file or stdin, streamed: memory holds a few chunks, never the file.

A daemon thread reads, so a stdin that blocks neither stalls the requests in flight nor keeps
the process alive after a signal ends the run (an executor thread would be waited for).
"""

from __future__ import annotations

import asyncio
import os
import queue
import stat
import sys
import threading
from collections.abc import AsyncIterator
from typing import BinaryIO, NamedTuple

from .errors import InputError

CHUNK_BYTES = 1 << 16
# Longer than any body a service accepts (1 MiB by default): a file without newlines must not
# be held whole to find out.
MAX_LINE_BYTES = 16 << 20
_CHUNKS_AHEAD = 4


class Line(NamedTuple):
    """One line without its newline; ``too_long`` lines keep no text."""

    number: int  # 1-based, blank lines included.
    text: bytes
    size: int  # Bytes it took in the input, newline included: progress through the file.
    too_long: bool = False


class LineReader:
    """The lines of ``path`` (``-`` is stdin), read ``CHUNK_BYTES`` at a time."""

    def __init__(self, fd: int, name: str, *, owned: BinaryIO | None = None) -> None:
        self.name = name
        self.size = _regular_size(fd)  # The progress total, when the input is a regular file.
        self._fd = fd
        self._owned = owned  # Closed by the thread when it ends; stdin is never closed.
        self._chunks: queue.Queue[bytes | OSError] = queue.Queue(_CHUNKS_AHEAD)
        self._ready = asyncio.Event()
        self._closed = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None

    @classmethod
    def open(cls, path: str) -> LineReader:
        """Raise ``InputError`` before the run if ``path`` cannot be read."""
        if path == "-":
            try:
                return cls(sys.stdin.fileno(), "stdin")
            except (AttributeError, ValueError, OSError):  # Replaced or closed stdin.
                raise InputError("cannot read stdin: it has no file descriptor") from None
        try:
            file = open(path, "rb")  # noqa: SIM115 - closed by the reading thread
        except OSError as error:
            raise InputError(f"cannot read {path}: {error.strerror or error}") from None
        if stat.S_ISDIR(os.fstat(file.fileno()).st_mode):
            file.close()
            raise InputError(f"cannot read {path}: Is a directory")
        return cls(file.fileno(), path, owned=file)

    async def lines(self) -> AsyncIterator[Line]:
        """Every line in order; a last line without a newline counts too."""
        self._loop = asyncio.get_running_loop()
        threading.Thread(target=self._pump, name="cache-cli-reader", daemon=True).start()
        pending = bytearray()
        number = 0
        too_long = False  # The current line passed MAX_LINE_BYTES: skip to its newline.
        dropped = 0
        while chunk := await self._next_chunk():
            start = 0
            while (end := chunk.find(b"\n", start)) != -1:
                number += 1
                if too_long or len(pending) + end - start > MAX_LINE_BYTES:
                    yield Line(number, b"", dropped + len(pending) + end - start + 1, True)
                else:
                    pending += chunk[start:end]
                    yield Line(number, bytes(pending), len(pending) + 1)
                pending.clear()
                too_long, dropped = False, 0
                start = end + 1
            rest = len(chunk) - start
            if too_long or len(pending) + rest > MAX_LINE_BYTES:
                too_long, dropped = True, dropped + len(pending) + rest
                pending.clear()
            else:
                pending += chunk[start:]
        if pending or too_long:
            yield Line(number + 1, bytes(pending), dropped + len(pending), too_long)

    def close(self) -> None:
        """Stop reading: the thread ends after its current read (a stdin may hold it there)."""
        self._closed.set()

    async def _next_chunk(self) -> bytes:
        while True:
            self._ready.clear()  # Before looking: a chunk put after the look sets it again.
            try:
                item = self._chunks.get_nowait()
            except queue.Empty:
                await self._ready.wait()
                continue
            if isinstance(item, OSError):
                raise InputError(f"cannot read {self.name}: {item.strerror or item}")
            return item

    def _pump(self) -> None:
        """The thread: chunks into the queue until the end, an error or ``close``.

        ``os.read`` on the descriptor, not the file object: a daemon thread blocked inside a
        buffered reader holds its lock, and the interpreter aborts on it at exit.
        """
        try:
            while not self._closed.is_set():
                try:
                    chunk: bytes | OSError = os.read(self._fd, CHUNK_BYTES)
                except OSError as error:
                    chunk = error
                if not self._put(chunk) or not isinstance(chunk, bytes) or not chunk:
                    return
        finally:
            if self._owned is not None:
                self._owned.close()

    def _put(self, item: bytes | OSError) -> bool:
        """Hand ``item`` to the loop, waiting for room; False once the reader is closed."""
        while not self._closed.is_set():
            try:
                self._chunks.put(item, timeout=0.1)
            except queue.Full:
                continue
            assert self._loop is not None
            try:
                self._loop.call_soon_threadsafe(self._ready.set)
            except RuntimeError:  # The loop is closed: nobody reads any more.
                return False
            return True
        return False


def _regular_size(fd: int) -> int | None:
    try:
        status = os.fstat(fd)
    except OSError:
        return None
    return status.st_size if stat.S_ISREG(status.st_mode) else None
