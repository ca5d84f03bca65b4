"""All configuration, read once from the environment (prefix ``CACHE_``) or ``.env``."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

from pydantic import Field, HttpUrl, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

ENV_PREFIX = "CACHE_"


class StoreKind(StrEnum):
    """Which durable store holds the truth."""

    SQLITE = "sqlite"
    MEMORY = "memory"


class Settings(BaseSettings):
    """The one home of configuration; invalid values stop start-up (see ``describe_error``)."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_file=".env", extra="ignore", frozen=True
    )

    # Request limits.
    max_items: int = Field(1000, ge=1, description="Most items per list.")
    max_string_length: int = Field(10_000, ge=1, description="Most characters per string.")
    max_body_bytes: int = Field(1_048_576, ge=64, description="Largest request body.")
    body_read_timeout_s: float = Field(
        10.0, gt=0, description="Longest time a client may take to send its body."
    )

    # Transformer.
    transformer_url: HttpUrl | None = Field(
        None, description="HTTP transformer endpoint; unset = simulated upper-casing."
    )
    transformer_id: str | None = Field(
        None,
        min_length=1,
        description="Identity and version that go into every id; change it to start afresh.",
    )
    transformer_delay_ms: int = Field(100, ge=0, description="Simulated transformer delay.")
    transformer_timeout_s: float = Field(10.0, gt=0, description="HTTP transformer timeout.")
    transformer_retries: int = Field(
        2, ge=0, le=10, description="Retries on connection errors and 5xx."
    )
    transformer_concurrency: int = Field(
        16, ge=1, description="Most transformer calls in flight per process."
    )

    # Tiers.
    l1_max_entries: int = Field(10_000, ge=0, description="In-process LRU size; 0 disables.")
    l1_max_bytes: int = Field(
        256 * 1024 * 1024, ge=0, description="In-process LRU memory bound (UTF-8 bytes)."
    )
    store: StoreKind = Field(StoreKind.SQLITE, description="Durable store.")
    sqlite_path: Path = Field(Path("./.cache-service/cache.db"), description="SQLite file.")
    store_timeout_s: float = Field(5.0, gt=0, description="Bound on one durable-store call.")
    retry_after_s: int = Field(
        1, ge=1, description="Retry-After sent with 503 when a tier is unavailable."
    )
    lock_wait_s: float = Field(
        25.0, gt=0, description="Longest a request waits for work another request holds."
    )


def env_name(field: str) -> str:
    """The environment variable that sets ``field``."""
    return f"{ENV_PREFIX}{field}".upper()


def describe_error(error: ValidationError) -> str:
    """One line per bad variable, named as the operator set it."""
    lines = []
    for item in error.errors():
        field = str(item["loc"][0]) if item["loc"] else "?"
        lines.append(f"{env_name(field)}: {item['msg']}")
    return "invalid configuration:\n  " + "\n  ".join(lines)
