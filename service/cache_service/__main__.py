"""``cache-service``: serve the API (serving.py); ``cache-service create-table`` for DynamoDB;
``cache-service warm --hot N`` to refill Redis with the most-read payloads."""

from __future__ import annotations

import argparse
import asyncio
import json
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
        "warm", help="fill the shared cache (Redis) from the durable store; prints one JSON line"
    )
    warm.add_argument(
        "--hot",
        type=_at_least_one,
        metavar="N",
        required=True,
        help="load the N most-read payloads (the hot set the service records in Redis)",
    )
    return parser


def _at_least_one(text: str) -> int:
    number = int(text)
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {number}")
    return number


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


def warm_hot(settings: Settings, n: int) -> int:
    """Refill Redis with the ``n`` most-read payloads; one JSON summary line on stdout."""
    if settings.redis_url is None or not settings.hot_set_size:
        print(
            "warm --hot: the hot set lives in Redis: set CACHE_REDIS_URL (and keep "
            "CACHE_HOT_SET_SIZE above 0)",
            file=sys.stderr,
        )
        return 2
    from .app import build_components
    from .refill import RESEED_MARGIN_S, RefillReport, refill_hot

    components = build_components(settings)
    redis = next(cache for cache in components.caches if cache.name == "redis")
    hot_set = components.hot_set
    assert hot_set is not None  # Built whenever Redis is set and the size is above 0.
    report = RefillReport(asked=n)

    async def run() -> None:
        try:
            await refill_hot(
                hot_set,
                components.store,
                redis,
                n,
                wait_s=settings.hot_flush_s + RESEED_MARGIN_S,
                report=report,
            )
        finally:
            await components.aclose()

    try:
        asyncio.run(run())
    except Exception as exc:  # One line for the operator, not a traceback.
        report.error = f"{type(exc).__name__}: {exc}"
        print(f"warm --hot: {report.error}", file=sys.stderr)
    print(json.dumps(report.as_dict()))
    return 0 if report.error is None else 1


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
        return warm_hot(settings, args.hot)

    from .app import create_app
    from .http.server import serve

    serve(create_app(settings), settings, host=args.host, port=args.port, log_level=args.log_level)
    return 0


if __name__ == "__main__":
    sys.exit(main())
