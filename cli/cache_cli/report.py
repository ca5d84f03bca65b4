"""The machine-readable report (-o), streamed as the run goes: JSON Lines or one JSON document."""

from __future__ import annotations

import json
import sys
from typing import Any

from .errors import UsageError
from .outlet import Outlet
from .records import RequestRecord


class ReportWriter:
    """One record per request as it finishes, then the summary; nothing kept in memory.

    JSON Lines (``-o -`` and ``*.jsonl``): ``{"type": "request", ...}`` lines, then one
    ``{"type": "summary", ...}``. Otherwise one document: ``{"requests": [...], "summary": ...}``.
    """

    def __init__(self, outlet: Outlet, *, lines: bool) -> None:
        self.outlet = outlet
        self._lines = lines
        self._first = True
        if not lines:
            outlet.write('{"requests": [')

    @classmethod
    def open(cls, output: str) -> ReportWriter:
        """The report for ``-o``; raise UsageError before the run if the file cannot be created."""
        if output == "-":
            return cls(Outlet(sys.stdout, "stdout"), lines=True)
        try:
            stream = open(output, "w", encoding="utf-8")  # noqa: SIM115 - closed by finish()
        except OSError as error:
            raise UsageError(f"cannot write {output}: {error.strerror or error}") from None
        return cls(Outlet(stream, output), lines=output.endswith(".jsonl"))

    def write(self, record: RequestRecord) -> bool:
        """Add one request; False once the report cannot be written."""
        if self._lines:
            return self.outlet.write(json.dumps({"type": "request", **record.as_dict()}) + "\n")
        separator = "\n  " if self._first else ",\n  "
        self._first = False
        return self.outlet.write(separator + json.dumps(record.as_dict()))

    def finish(self, summary: dict[str, Any]) -> bool:
        """Add the summary and close; False if any of the report could not be written."""
        if self._lines:
            self.outlet.write(json.dumps({"type": "summary", **summary}) + "\n")
        else:
            self.outlet.write(f'\n], "summary": {json.dumps(summary, indent=2)}}}\n')
        return self.outlet.close()
