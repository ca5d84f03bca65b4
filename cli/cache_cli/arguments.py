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
CACHE_CLI_NO_GET, CACHE_CLI_UNIQUE, CACHE_CLI_FRESH, CACHE_CLI_NO_PROGRESS, CACHE_CLI_FAIL_IF);
a flag wins over its variable, and an empty variable counts as unset. CACHE_CLI_HEADER and
CACHE_CLI_FAIL_IF hold one value, or a JSON list of several.

The report (-o) streams one record per request (iteration, payload, endpoint, status,
latency_ms, cache, id, error, failed_checks) while the run goes, then the summary: JSON Lines
(one request per line, the summary last) for -o - and any FILE ending in .jsonl, else one JSON
document {"requests": [...], "summary": {...}}. With -o - the summary goes to stderr.

--fail-if takes METRIC>VALUE or METRIC<VALUE (also >= and <=): min, mean, stddev, p50, p90,
p95, p99, p99.9, max (ms by default; s and us too), errors (failed requests), error_rate (%),
rps (requests/s). Example: --fail-if 'p99>50ms' --fail-if 'errors>0'.

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
        description="Send payloads to a cache-service, check every answer, measure the cache.",
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
    if "input" in given or "json_payload" in given:
        given = {"input": None, "json_payload": None, **given}
    return CliSettings(**given)
