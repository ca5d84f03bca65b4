"""The command line: argparse for the flags, ``CliSettings`` for their values and defaults."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any, NoReturn

from .errors import UsageError
from .settings import CliSettings

EPILOG = """\
Every flag can also be set with a CACHE_CLI_* variable (CACHE_CLI_HOST, CACHE_CLI_REPEAT,
CACHE_CLI_INPUT, CACHE_CLI_JSON, CACHE_CLI_OUTPUT, CACHE_CLI_CONCURRENCY, CACHE_CLI_TIMEOUT,
CACHE_CLI_API_KEY, CACHE_CLI_FORMAT, CACHE_CLI_NO_GET, CACHE_CLI_UNIQUE); a flag wins over
its variable.

The report (-o) holds the summary and one record per request (endpoint, status, latency_ms,
cache, id, error): one JSON document, or JSON Lines (one request per line, the summary last)
when FILE ends in .jsonl. With -o - the report goes to stdout and the summary to stderr.

Exit codes: 0 every request succeeded and every check held; 1 a request failed (an HTTP
error status, a timeout, or the host cannot be reached) or a check failed (an id changed, a
GET disagreed with its POST, a status broke the contract); 2 a usage or input error (bad
flags or variables, invalid URL, unreadable file, invalid JSON)."""


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
        help="write the report to FILE (.jsonl: JSON Lines), - for stdout",
    )
    add(
        "-c",
        "--concurrency",
        metavar="N",
        help="iterations (POST, then GET) in flight at once (default 1)",
    )
    add("--timeout", metavar="S", help="seconds allowed for each request (default 10)")
    add("--api-key", metavar="KEY", help="send KEY as x-api-key (API Gateway usage plans)")
    add("--format", metavar="table|json", help="summary format (default table)")
    add("--no-get", action="store_true", help="POST only; do not GET each id back")
    add(
        "--unique",
        action="store_true",
        help="make each repeat's payload distinct (by a "
        "suffix on list_1's first string) to measure misses",
    )
    return parser


def parse_settings(argv: Sequence[str] | None = None) -> CliSettings:
    """Flags over ``CACHE_CLI_*`` variables over defaults; raises UsageError or ValidationError."""
    given: dict[str, Any] = vars(build_parser().parse_args(argv))
    # A payload source on the command line replaces one from the environment.
    if "input" in given or "json_payload" in given:
        given = {"input": None, "json_payload": None, **given}
    return CliSettings(**given)
