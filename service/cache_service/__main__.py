"""``cache-service``: serve the API (serving.py); ``cache-service create-table`` for DynamoDB."""

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
    return parser


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


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = Settings()
    except ValidationError as exc:
        print(describe_error(exc), file=sys.stderr)
        return 2
    if args.command == "create-table":
        return create_table(settings)

    from .app import create_app
    from .http.server import serve

    serve(create_app(settings), settings, host=args.host, port=args.port, log_level=args.log_level)
    return 0


if __name__ == "__main__":
    sys.exit(main())
