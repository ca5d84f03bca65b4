"""``cache-service``: serve the API; ``warm FILE`` precomputes payloads (``--queue URL``: on
AWS, through the warm worker's queue); ``warm --hot N`` refills Redis with the most-read
payloads; ``create-table`` makes the DynamoDB table for local use."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence

from pydantic import ValidationError

from .settings import Settings, describe_error


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cache-service",
        description="Serve the cache-service HTTP API. Configuration: CACHE_* variables.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="TCP port (default 8000)")
    parser.add_argument(
        "--log-level",
        default="info",
        choices=["critical", "error", "warning", "info", "debug"],
        help="log level (default info)",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.add_parser(
        "create-table",
        help="create CACHE_DYNAMODB_TABLE (on-demand, TTL) for local use; no-op if it exists",
    )
    warm = commands.add_parser(
        "warm",
        help="precompute every payload of a JSON Lines file (one POST /payload body per line)",
        description="Precompute every payload of FILE (JSON Lines, one POST /payload body per "
        "line; - for stdin) through the configured tiers and claims, sending the strings no "
        "tier holds in full transformer batches. stdout: one JSON line per input line "
        "(line, id, status: created|present|invalid|failed, error). stderr: progress on a "
        "terminal, then a summary. Exit 0 when every line is stored, 1 when some lines were "
        "invalid or failed (the others are still done; a rerun resumes), 2 for usage errors. "
        "With --hot N instead of FILE: refill Redis with the N most-read payloads.",
    )
    warm.add_argument("file", metavar="FILE", nargs="?", help="JSON Lines file, or - for stdin")
    warm.add_argument(
        "--hot",
        type=_positive,
        metavar="N",
        help="instead of a file: load the N most-read payloads (the hot set the service "
        "records in Redis) from the durable store into Redis; prints one JSON line",
    )
    warm.add_argument(
        "--window",
        type=_positive,
        default=1000,
        help="most payloads in flight at once: bounds memory (default 1000)",
    )
    warm.add_argument(
        "--no-progress", action="store_true", help="no progress bar, even on a terminal"
    )
    warm.add_argument(
        "--queue",
        metavar="URL",
        help="send the lines to the warm worker's SQS queue (the stack's WarmQueueUrl) instead "
        "of warming here: invalid lines are reported, not sent; stdout says queued|invalid|"
        "failed per line; your own AWS credentials",
    )
    return parser


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def create_table(settings: Settings) -> int:
    """Create the DynamoDB table the settings name, the way the CDK stack defines it."""
    from .stores.dynamodb.store import DynamoDbStore

    if not settings.dynamodb_table:
        print("create-table: set CACHE_DYNAMODB_TABLE", file=sys.stderr)
        return 2
    store = DynamoDbStore(
        settings.dynamodb_table, timeout_s=settings.store_timeout_s, retry_after_s=1
    )

    async def run() -> bool:
        try:
            return await store.create_table()
        finally:
            await store.aclose()

    try:
        created = asyncio.run(run())
    except Exception as exc:  # One line for the operator, not a traceback.
        print(f"create-table: {settings.dynamodb_table}: {exc}", file=sys.stderr)
        return 1
    state = "created" if created else "already exists"
    print(f"table {settings.dynamodb_table} {state}")
    return 0


def _warm(args: argparse.Namespace, settings: Settings) -> int:
    if (args.file is None) == (args.hot is None):
        print("warm: give either FILE or --hot N", file=sys.stderr)
        return 2
    if args.hot is not None:
        from .warming.refill import warm_hot

        return warm_hot(settings, args.hot)
    if args.queue is not None:
        from .warming.enqueue import enqueue_file

        return enqueue_file(settings, args.file, args.queue)
    from .warming.command import warm_file

    return warm_file(
        settings, args.file, window=args.window, progress=False if args.no_progress else None
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = Settings()
    except ValidationError as exc:
        print(describe_error(exc), file=sys.stderr)
        return 2
    if args.command == "create-table":
        return create_table(settings)
    if args.command == "warm":
        return _warm(args, settings)

    from .app import create_app
    from .http.server import serve

    serve(create_app(settings), settings, host=args.host, port=args.port, log_level=args.log_level)
    return 0


if __name__ == "__main__":
    sys.exit(main())
