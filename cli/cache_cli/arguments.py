"""The command line: argparse for the flags, ``CliSettings`` for their values and defaults."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any, NoReturn

from . import version
from .errors import UsageError
from .settings import CliSettings

EPILOG = """\
Every flag can also be set with a CACHE_CLI_* variable (CACHE_CLI_HOST, CACHE_CLI_REPEAT,
CACHE_CLI_INPUT, CACHE_CLI_JSON, CACHE_CLI_OUTPUT, CACHE_CLI_CONCURRENCY, CACHE_CLI_DURATION,
CACHE_CLI_RATE, CACHE_CLI_TIMEOUT, CACHE_CLI_API_KEY, CACHE_CLI_HEADER, CACHE_CLI_FORMAT,
CACHE_CLI_NO_GET, CACHE_CLI_UNIQUE, CACHE_CLI_FRESH, CACHE_CLI_NO_PROGRESS, CACHE_CLI_FAIL_IF,
CACHE_CLI_WARM, CACHE_CLI_RETRIES);
a flag wins over its variable, and an empty variable counts as unset. CACHE_CLI_HEADER and
CACHE_CLI_FAIL_IF hold one value, or a JSON list of several.

The report (-o) streams one record per request (iteration, payload, endpoint, status,
latency_ms, cache, id, error, failed_checks) while the run goes, then the summary: JSON Lines
(one request per line, the summary last) for -o - and any FILE ending in .jsonl, else one JSON
document {"requests": [...], "summary": {...}}. With -o - the summary goes to stderr.

--fail-if takes METRIC>VALUE or METRIC<VALUE (also >= and <=): min, mean, stddev, p50, p90,
p95, p99, p99.9, max (ms by default; s and us too), errors (failed requests), error_rate (%),
rps (requests/s). Example: --fail-if 'p99>50ms' --fail-if 'errors>0'.

--warm FILE (- for stdin) fills the cache from JSON Lines, one POST /payload body per line
({"list_1": [...], "list_2": [...]}), each line sent once on -c connections: no GET, no
repeats. The file is streamed, never read whole, so memory stays flat for any length. stdout
gets one JSON line per input line, in input order (a slow line holds at most 1,024 finished
ones, or 16 per connection, behind it):
  {"line": N, "id": "<64 hex>" or null, "status": "created"|"present"|"invalid"|"failed",
   "error": "..." (only when invalid or failed)}
created: 201, this request's work stored it; present: 200, it was stored already (so a
second run of the same file is cheap: the service computes nothing). invalid: the service
refused the payload (400, 413, 422; error is its detail), or the line is not a JSON object
with list_1 and list_2 arrays, which is reported without sending ("line N not sent: ...").
failed: any other status, a timeout or a connection error; not retried, except 429 and 503
with Retry-After: asked again after Retry-After seconds (at most 60; a 429 without it after
1, 2, 4... s), at most --retries times (default 5), then failed. Blank lines are skipped and
not reported; line numbers still count them. The summary (lines, each outcome, requests,
wall time, lines/s) goes to stderr, as does the progress bar on a terminal. -r, -z, -o,
--unique, --fresh and --fail-if do not apply; -c, -q, --timeout, --api-key, -H, --format and
--no-progress do. On a signal, lines in flight are not reported. Exit codes with --warm: 0
every line created or present, 1 a line invalid or failed (the others were still sent), the
input unreadable mid-way or the report unwritable; 2, 130 and 143 as below.

Exit codes: 0 every request succeeded, every check held and no --fail-if condition was met;
1 a request failed (an HTTP error status, a timeout, the host cannot be reached), a check
failed (an id changed, a GET disagreed with its POST, a status broke the contract), or the
summary or report could not be written; 2 a usage or input error (bad flags or variables,
invalid URL, unreadable file, invalid JSON), nothing sent; 3 a --fail-if condition was met
(and nothing else failed); 130 interrupted by SIGINT (Ctrl-C), 143 by SIGTERM: the partial
summary is printed and the report written first. A closed stdout (| head) ends the run
quietly, with the report written and the exit code of what ran."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(message)  # One line, not argparse's usage block.


def build_parser() -> argparse.ArgumentParser:
    """Flags without defaults of their own: what is not given comes from the environment."""
    parser = _Parser(
        prog="cache-cli",
        description="Send payloads to a cache-service, check every answer, measure the cache; "
        "or (--warm) fill it from a file of payloads.",
        epilog=EPILOG,
        add_help=False,  # -h is the host.
        argument_default=argparse.SUPPRESS,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add = parser.add_argument
    add("--help", action="help", help="show this help and exit")
    add("--version", action="version", version=f"cache-cli {version()}")
    add(
        "-h",
        "--host",
        metavar="URL",
        help="base URL (default http://localhost:8000); "
        "a path such as an API Gateway stage is kept: URL/payload",
    )
    add("-r", "--repeat", metavar="N", help="send each payload N times (default 1)")
    add(
        "-i",
        "--input",
        metavar="FILE",
        help="payload file, - for stdin: one JSON object or JSON Lines of many",
    )
    add("-j", "--json", dest="json_payload", metavar="JSON", help="the payload as JSON")
    add(
        "-o",
        "--output",
        metavar="FILE",
        help="stream the report to FILE (.jsonl: JSON Lines), - for JSON Lines on stdout",
    )
    add(
        "-c",
        "--concurrency",
        metavar="N",
        help="connections, each running one iteration (POST, then GET) at a time (default 1)",
    )
    add(
        "-z",
        "--duration",
        metavar="TIME",
        help="run for TIME (30s, 2m, 500ms), repeating the payloads; -r is then unused",
    )
    add("-q", "--rate", metavar="RPS", help="start at most RPS requests per second in all")
    add(
        "--timeout",
        metavar="S",
        help="seconds allowed for a whole request, connect to last byte (default 10)",
    )
    add("--api-key", metavar="KEY", help="send KEY as x-api-key (API Gateway usage plans)")
    add(
        "-H",
        "--header",
        metavar="'NAME: VALUE'",
        action="append",
        help="send this header too (repeatable), e.g. -H 'Authorization: Bearer ...'",
    )
    add(
        "--warm",
        metavar="FILE",
        help="POST each line of FILE (JSON Lines, - for stdin) once and report each line's "
        "outcome as JSON Lines on stdout, in input order; see --warm below",
    )
    add(
        "--retries",
        metavar="N",
        help="with --warm: ask again at most N times after a 429 or a 503 with "
        "Retry-After (default 5)",
    )
    add("--format", metavar="table|json", help="summary format (default table)")
    add("--no-get", action="store_true", help="POST only; do not GET each id back")
    add(
        "--unique",
        action="store_true",
        help="make every request's payload one never sent before, to measure misses "
        "(a suffix on list_1's first string)",
    )
    add(
        "--fresh",
        action="store_true",
        help="make the payloads new to this run but repeated within it: the first "
        "of each is a MISS, the repeats HITs, on every run",
    )
    add(
        "--no-progress",
        action="store_true",
        help="no live display (it is drawn on stderr only when that is a terminal)",
    )
    add(
        "--fail-if",
        metavar="CONDITION",
        action="append",
        help="fail the run (exit 3) when CONDITION holds, e.g. 'p99>50ms' (repeatable)",
    )
    return parser


def parse_settings(argv: Sequence[str] | None = None) -> CliSettings:
    """Flags over ``CACHE_CLI_*`` variables over defaults; raises UsageError or ValidationError."""
    given: dict[str, Any] = vars(build_parser().parse_args(argv))
    # A payload source on the command line replaces one from the environment.
    if given.keys() & {"input", "json_payload", "warm"}:
        given = {"input": None, "json_payload": None, "warm": None, **given}
    return CliSettings(**given)
