"""Output without tracebacks: a reader that left (``| head``) is quiet, a failure one line."""

from __future__ import annotations

import os
import sys
from typing import TextIO


class Outlet:
    """A text stream that stops at its first write error and remembers why.

    ``gone`` is set when the reader closed the pipe (nothing to say about it); ``error`` holds a
    one-line reason for any other failure (a full disk, /dev/full).
    """

    def __init__(self, stream: TextIO, name: str) -> None:
        self._stream = stream
        self.name = name
        self.gone = False
        self.error: str | None = None

    @property
    def broken(self) -> bool:
        return self.gone or self.error is not None

    def write(self, text: str) -> bool:
        """Write ``text``; False once the stream cannot take more."""
        if self.broken:
            return False
        try:
            self._stream.write(text)
        except OSError as error:
            self._failed(error)
            return False
        return True

    def flush(self) -> bool:
        if self.broken:
            return False
        try:
            self._stream.flush()
        except OSError as error:
            self._failed(error)
            return False
        return True

    def close(self) -> bool:
        """Flush, and close unless a standard stream; False if anything could not be written."""
        done = self.flush()
        if self._stream not in (sys.stdout, sys.stderr):
            try:
                self._stream.close()
            except OSError as error:
                if not self.broken:
                    self._failed(error)
                done = False
        return done

    def _failed(self, error: OSError) -> None:
        if isinstance(error, BrokenPipeError):
            self.gone = True
        else:
            self.error = f"cannot write {self.name}: {error.strerror or error}"
        if self._stream in (sys.stdout, sys.stderr):
            _discard_further_output(self._stream)


def _discard_further_output(stream: TextIO) -> None:
    """Point the descriptor at /dev/null so the interpreter's last flush cannot fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, stream.fileno())
        os.close(devnull)
    except (OSError, ValueError):  # No descriptor (a captured stream): nothing to protect.
        pass
