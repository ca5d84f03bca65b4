"""``cache-cli`` / ``python -m cache_cli``: run, print the summary, exit with a documented code."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from pydantic import ValidationError
from rich.console import Console

from .arguments import parse_settings
from .connection import encode_request
from .consistency import ConsistencyCheck
from .errors import UsageError
from .exchange import Exchange
from .lines import LineReader
from .live import LiveDisplay
from .outlet import Outlet
from .pacing import Pacer
from .payloads import read_payloads
from .plan import Plan
from .records import RequestRecord
from .rendering import summary_json, summary_table
from .report import ReportWriter
from .runner import RunResult, Stop, run_load
from .settings import CliSettings, ReportFormat, describe_error
from .summary import summarize
from .tally import Tally
from .warm_live import WarmProgress
from .warm_summary import warm_summary, warm_table
from .warming import LineResult, WarmCounts, Warmer, WarmResult, run_warm

PROG = "cache-cli"
OK, FAILED, USAGE, THRESHOLD = 0, 1, 2, 3
# 128 + the signal's number, as a shell reports a process the signal ended.
SIGNAL_EXIT = {"SIGINT": 130, "SIGTERM": 143}
T = TypeVar("T")


def main(argv: Sequence[str] | None = None) -> int:
    """The exit code; see ``--help`` for what each one means."""
    try:
        return _run(argv)
    except UsageError as error:
        return _fail(str(error), code=USAGE)
    except ValidationError as error:
        return _fail(describe_error(error), code=USAGE)
    except KeyboardInterrupt:
        return _fail("interrupted", code=SIGNAL_EXIT["SIGINT"])
    except SystemExit as done:  # --help and --version printed: make sure their text got out.
        printed = Outlet(sys.stdout, "stdout")
        if not printed.flush() and printed.error:
            return _fail(printed.error, code=FAILED)
        return done.code if isinstance(done.code, int) else OK


def _run(argv: Sequence[str] | None) -> int:
    settings = parse_settings(argv)
    if settings.warm is not None:
        return _run_warm(settings, settings.warm)
    payloads = read_payloads(input_path=settings.input, json_text=settings.json_payload)
    target = settings.target
    headers = settings.request_headers()
    plan = Plan(
        payloads,
        lambda body: encode_request("POST", target, target.payload_path, headers, body),
        repeat=None if settings.duration else settings.repeat,
        unique=settings.unique,
        fresh=settings.fresh,
    )
    report = ReportWriter.open(settings.output) if settings.output is not None else None
    tally, check, stop = Tally(), ConsistencyCheck(), Stop()

    def record(request: RequestRecord) -> None:
        tally.add(request)
        if report is not None and not report.write(request):
            stop("report not writable" if report.outlet.error else "stdout closed")

    exchange = Exchange(
        target,
        headers,
        timeout_s=settings.timeout,
        check=check,
        record=record,
        pacer=Pacer(settings.rate) if settings.rate else None,
        get=not settings.no_get,
    )
    result = _run_loop(settings, plan, exchange, tally, stop, iterations=len(payloads))
    summary = summarize(settings, len(payloads), tally, check, result)

    if not result.reached and result.stopped is None:
        if report is not None:
            report.finish(summary)
        return _fail(f"cannot reach {target.shown}: {tally.first_error or 'no answer'}", code=1)
    # With the report on stdout, the human summary moves to stderr.
    human = Outlet(sys.stderr, "stderr") if settings.output == "-" else Outlet(sys.stdout, "stdout")
    if settings.format is ReportFormat.JSON:
        human.write(summary_json(summary))
    else:
        terminal = human.name == "stdout" and sys.stdout.isatty()
        human.write(summary_table(summary, terminal=terminal))
    human.flush()
    if report is not None:
        report.finish(summary)
    outlets = [human] + ([report.outlet] if report is not None else [])
    return _verdict(summary, result, [o.error for o in outlets if o.error])


def _run_loop(
    settings: CliSettings,
    plan: Plan,
    exchange: Exchange,
    tally: Tally,
    stop: Stop,
    *,
    iterations: int,
) -> RunResult:
    """The load run, with its live display when there is one."""

    async def drive() -> RunResult:
        display = _live_display(settings, tally, iterations)
        if display is None:
            return await _load(settings, plan, exchange, stop)
        with display:
            return await _load(settings, plan, exchange, stop)

    return _on_event_loop(drive, stop)


def _on_event_loop(drive: Callable[[], Awaitable[T]], stop: Stop) -> T:
    """``drive()`` on uvloop where it is installed (a third less client CPU per request), with
    SIGINT and SIGTERM turned into ``stop`` so that a partial run still ends in its summary."""

    async def with_signals() -> T:
        loop = asyncio.get_running_loop()
        handled = []
        for signal_number in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.add_signal_handler(signal_number, stop, signal_number.name)
                handled.append(signal_number)
            except (NotImplementedError, RuntimeError):  # Not the main thread, or Windows.
                pass
        try:
            return await drive()
        finally:
            for signal_number in handled:
                loop.remove_signal_handler(signal_number)

    try:
        import uvloop  # Optional: not on Windows.

        runner = asyncio.Runner(loop_factory=uvloop.new_event_loop)
    except ImportError:
        runner = asyncio.Runner()
    with runner:
        return runner.run(with_signals())


def _run_warm(settings: CliSettings, source: str) -> int:
    """``--warm``: each line's outcome on stdout as it is known, the summary on stderr."""
    reader = LineReader.open(source)
    counts, stop = WarmCounts(), Stop()
    warmer = Warmer(
        settings.target,
        settings.request_headers(),
        counts,
        timeout_s=settings.timeout,
        retries=settings.retries,
        pacer=Pacer(settings.rate) if settings.rate else None,
    )
    out = Outlet(sys.stdout, "stdout")

    def report(result: LineResult) -> None:
        if not out.write(result.as_json() + "\n"):
            stop("stdout closed" if out.gone else "report not writable")

    async def drive() -> WarmResult:
        run = run_warm(reader, warmer, counts, report, concurrency=settings.concurrency, stop=stop)
        if settings.no_progress or not sys.stderr.isatty():
            return await run
        with WarmProgress(Console(stderr=True), counts, total_bytes=reader.size):
            return await run

    result = _on_event_loop(drive, stop)
    out.flush()
    summary = warm_summary(counts, result, host=settings.target.shown, source=reader.name)
    human = Outlet(sys.stderr, "stderr")
    human.write(
        summary_json(summary) if settings.format is ReportFormat.JSON else warm_table(summary)
    )
    human.flush()
    code = OK
    if counts.not_stored:
        code = _fail(
            f"{counts.not_stored:,} of {counts.lines:,} lines not stored "
            f"(first: {counts.first_problem})",
            code=FAILED,
        )
    if out.error:
        code = _fail(out.error, code=FAILED)
    if result.stopped in SIGNAL_EXIT:
        _fail(f"interrupted by {result.stopped}: lines in flight not reported", code=1)
        return SIGNAL_EXIT[result.stopped]
    if result.stopped is not None and result.stopped not in (
        "stdout closed",
        "report not writable",
    ):
        code = _fail(result.stopped, code=FAILED)  # The input failed mid-way.
    return code


async def _load(settings: CliSettings, plan: Plan, exchange: Exchange, stop: Stop) -> RunResult:
    return await run_load(
        settings.target,
        plan,
        exchange,
        concurrency=settings.concurrency,
        duration_s=settings.duration,
        stop=stop,
    )


def _live_display(settings: CliSettings, tally: Tally, payloads: int) -> LiveDisplay | None:
    """Drawn on stderr when it is a terminal, unless turned off."""
    if settings.no_progress or not sys.stderr.isatty():
        return None
    return LiveDisplay(
        Console(stderr=True),
        tally,
        iterations=None if settings.duration else settings.repeat * payloads,
        duration_s=settings.duration,
    )


def _verdict(summary: dict[str, Any], result: RunResult, write_errors: list[str]) -> int:
    """One line per reason on stderr, and the exit code of the gravest."""
    failures = summary["failures"]
    count = summary["inconsistency_count"]
    problems = summary["inconsistencies"]
    code = OK
    if failures:
        _fail(
            f"{failures} of {summary['requests']} requests failed "
            f"(first: {summary['first_failure']})",
            code=FAILED,
        )
        code = FAILED
    if count:
        _fail(f"{count} inconsistencies (first: {problems[0]})", code=FAILED)
        code = FAILED
    for error in write_errors:
        _fail(error, code=FAILED)
        code = FAILED
    crossed = [t for t in summary["fail_if"] if t["failed"]]
    if crossed and code == OK:
        _fail(f"fail if {', '.join(t['fail_if'] for t in crossed)}: met", code=THRESHOLD)
        code = THRESHOLD
    if result.stopped in SIGNAL_EXIT:
        _fail(f"interrupted by {result.stopped}: partial results", code=1)
        return SIGNAL_EXIT[result.stopped]
    return code


def _fail(message: str, *, code: int) -> int:
    with contextlib.suppress(OSError):  # stderr gone too: the exit code is all there is.
        print(f"{PROG}: {message}", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
