"""``cache-cli`` / ``python -m cache_cli``: run, print the summary, exit 0, 1 or 2."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TextIO

from pydantic import ValidationError
from rich.console import Console

from .arguments import parse_settings
from .errors import UsageError
from .payloads import read_payloads
from .records import RequestRecord
from .rendering import print_summary_json, print_summary_table, progress_bar
from .report import summarize, write_report
from .runner import RunResult, Unreachable, run_load
from .settings import CliSettings, ReportFormat, describe_error

PROG = "cache-cli"


def main(argv: Sequence[str] | None = None) -> int:
    """The exit code: 0 all good, 1 failed requests or checks, 2 usage or input errors."""
    try:
        return _run(argv)
    except UsageError as error:
        return _fail(str(error), code=2)
    except ValidationError as error:
        return _fail(describe_error(error), code=2)
    except KeyboardInterrupt:
        return _fail("interrupted", code=130)


def _run(argv: Sequence[str] | None) -> int:
    settings = parse_settings(argv)
    payloads = read_payloads(input_path=settings.input, json_text=settings.json_payload)
    if settings.output is not None and settings.output != "-":
        _check_writable(Path(settings.output))
    try:
        result = asyncio.run(_load(settings, payloads))
    except Unreachable as error:
        return _fail(f"cannot reach {settings.host}: {error}", code=1)
    summary = summarize(settings, len(payloads), result)
    # With the report on stdout, the human summary moves to stderr.
    human = Console(file=sys.stderr if settings.output == "-" else sys.stdout)
    if settings.format is ReportFormat.JSON:
        print_summary_json(human, summary)
    else:
        print_summary_table(human, summary)
    if settings.output is not None:
        with _report_stream(settings.output) as stream:
            lines = settings.output.endswith(".jsonl")
            write_report(stream, summary, result.records, lines=lines)
    return _verdict(result.records, summary["inconsistencies"])


async def _load(settings: CliSettings, payloads: list[dict[str, object]]) -> RunResult:
    if not sys.stderr.isatty():
        return await run_load(settings, payloads)
    with progress_bar(Console(stderr=True)) as progress:
        task = progress.add_task("requests", total=settings.repeat * len(payloads))
        return await run_load(settings, payloads, lambda: progress.advance(task))


def _check_writable(path: Path) -> None:
    """Refuse before the run, not after it, a report that could not be written."""
    folder = path.parent
    if not folder.is_dir() or not os.access(folder, os.W_OK) or path.is_dir():
        raise UsageError(f"cannot write {path}: no such folder, not writable, or a folder")


@contextlib.contextmanager
def _report_stream(output: str) -> Iterator[TextIO]:
    if output == "-":
        yield sys.stdout
        return
    try:
        stream = open(output, "w", encoding="utf-8")  # noqa: SIM115 - closed below
    except OSError as error:
        raise UsageError(f"cannot write {output}: {error.strerror or error}") from None
    with stream:
        yield stream


def _verdict(records: list[RequestRecord], problems: list[str]) -> int:
    failures = [r for r in records if not r.ok]
    if failures:
        first = failures[0]
        _fail(
            f"{len(failures)} of {len(records)} requests failed "
            f"(first: {first.endpoint}: {first.error})",
            code=1,
        )
    if problems:
        _fail(f"{len(problems)} inconsistencies (first: {problems[0]})", code=1)
    return 1 if failures or problems else 0


def _fail(message: str, *, code: int) -> int:
    print(f"{PROG}: {message}", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
