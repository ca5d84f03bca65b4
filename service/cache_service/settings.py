"""All configuration, read once from the environment (prefix ``CACHE_``) or ``.env``."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Self

from pydantic import Field, HttpUrl, RedisDsn, SecretStr, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

ENV_PREFIX = "CACHE_"
#: A shorter API key is guessable; API Gateway's own keys are at least 20 characters.
MIN_API_KEY_LENGTH = 16


class StoreKind(StrEnum):
    """Which durable store holds the truth."""

    SQLITE = "sqlite"
    MEMORY = "memory"
    DYNAMODB = "dynamodb"


class Settings(BaseSettings):
    """The one home of configuration; invalid values stop start-up (see ``describe_error``)."""

    # An empty variable means "not set" (``-e CACHE_REDIS_URL=``, an empty template parameter),
    # not an invalid URL.
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_file=".env", extra="ignore", frozen=True, env_ignore_empty=True
    )

    # Request limits.
    max_items: int = Field(1000, ge=1, description="Most items per list.")
    max_string_length: int = Field(10_000, ge=1, description="Most characters per string.")
    max_body_bytes: int = Field(1_048_576, ge=64, description="Largest request body.")
    body_read_timeout_s: float = Field(
        10.0, gt=0, description="Longest time a client may take to send its body."
    )

    # Authentication (off unless keys are set).
    api_keys: SecretStr | None = Field(
        None,
        description="API keys, comma-separated (two while rotating); when set, the payload "
        "routes answer 401 without one of them in x-api-key. Each at least 16 characters.",
    )
    operations_need_key: bool = Field(
        False, description="With CACHE_API_KEYS: /ready and /metrics need a key too."
    )

    # What sits in front.
    shared_cache: bool = Field(
        False,
        description="A shared cache in front (API Gateway's stage cache, a CDN) replays "
        "GET /payload/{id} answers to other clients: they then carry nothing of one request "
        "(no X-Request-ID, no X-Cache-Tier).",
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
    transformer_batch_size: int | None = Field(
        None,
        ge=1,
        description="Most strings in one transformer call; unset = 100 for the simulated "
        "transformer, 1 for an HTTP one (above 1 it must speak the batch protocol).",
    )
    max_output_bytes_per_string: int = Field(
        262_144,
        ge=1,
        description="Largest transformer output for one string (UTF-8 bytes); beyond it, 502 "
        "and nothing of that call is stored.",
    )
    max_output_bytes_per_payload: int = Field(
        4_194_304,
        ge=1,
        description="Largest output of one payload (UTF-8 bytes); beyond it, 502 and the "
        "payload is not stored.",
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
    claim_wait_s: float = Field(
        25.0, gt=0, description="Longest a request waits for work another process has claimed."
    )
    budget_margin_s: float = Field(
        1.0,
        ge=0,
        description="On Lambda, time kept back from the invocation's remaining time, so that "
        "a request out of time gets our 504 rather than a timed-out function.",
    )
    claim_ttl_s: float = Field(
        20.0,
        gt=0,
        description="Claim expiry, renewed while the work runs: the longest a crashed holder "
        "can block a unit of work (cut to the request's deadline where it has one, as on "
        "Lambda). Must be below CACHE_CLAIM_WAIT_S.",
    )

    # DynamoDB (the region and endpoint come from the standard AWS_* variables).
    dynamodb_table: str | None = Field(
        None, min_length=3, description="DynamoDB table (CACHE_STORE=dynamodb)."
    )
    dynamodb_ttl_s: int = Field(
        0, ge=0, description="Write an expires_at TTL attribute this far ahead; 0 = keep forever."
    )

    # Redis.
    redis_url: RedisDsn | None = Field(
        None,
        description="Shared Redis tier and wake-ups (redis:// or rediss://); unset = none.",
    )
    redis_cluster: bool = Field(
        False, description="Talk Redis Cluster protocol (ElastiCache Serverless is cluster-mode)."
    )
    redis_prefix: str = Field(
        "cache-service:v1:", description="Namespace and version of every Redis key."
    )
    redis_ttl_s: int = Field(7 * 24 * 3600, ge=1, description="Expiry of Redis entries.")
    redis_timeout_s: float = Field(
        0.5, gt=0, description="Socket and connect timeout of one Redis call."
    )
    redis_max_connections: int = Field(
        64, ge=1, description="Redis connection pool size; callers wait for a free one."
    )
    redis_cooldown_s: float = Field(
        5.0,
        gt=0,
        description="After a Redis failure, skip Redis this long before trying it again.",
    )
    hot_set_size: int = Field(
        10_000,
        ge=0,
        description="With Redis: most payload ids the hot set keeps per generation (and "
        "distinct ids a process holds until its next flush); 0 turns read recording off.",
    )
    hot_flush_s: float = Field(
        1.0,
        gt=0,
        le=600,
        description="How often a process sends its read counts to the hot set in Redis; also "
        "how soon after a FLUSHALL the live processes have put the hot set back.",
    )

    # HTTP edge: what a connection may cost before its request reaches the app. Enforced by the
    # server `cache-service` runs (bounded_http.py); on AWS, API Gateway has its own limits.
    max_header_bytes: int = Field(
        32 * 1024, ge=1024, description="Largest request head (request line and headers); 431."
    )
    max_headers: int = Field(100, ge=8, description="Most header fields in a request; 431.")
    header_timeout_s: float = Field(
        10.0, gt=0, description="Longest a client may take to send a request head; 408."
    )
    max_connections: int = Field(
        1024,
        ge=8,
        description="Most open connections; past it the longest-idle one is closed.",
    )

    @property
    def api_key_list(self) -> list[str]:
        """The configured API keys (none: authentication is off)."""
        if self.api_keys is None:
            return []
        return [key.strip() for key in self.api_keys.get_secret_value().split(",") if key.strip()]

    @property
    def batch_size(self) -> int:
        """The transformer batch size in effect (see ``transformer_batch_size``)."""
        if self.transformer_batch_size is not None:
            return self.transformer_batch_size
        return 1 if self.transformer_url is not None else 100

    @model_validator(mode="after")
    def _store_is_complete(self) -> Self:
        if self.store is StoreKind.DYNAMODB and not self.dynamodb_table:
            raise ValueError("CACHE_DYNAMODB_TABLE must be set when CACHE_STORE=dynamodb")
        return self

    @model_validator(mode="after")
    def _api_keys_are_usable(self) -> Self:
        # Never the keys themselves in a message: it goes to the terminal and the log.
        keys = self.api_key_list
        if self.api_keys is not None and not keys:
            raise ValueError("CACHE_API_KEYS is set but holds no key")
        if any(len(key) < MIN_API_KEY_LENGTH for key in keys):
            raise ValueError(
                f"CACHE_API_KEYS: every key must have at least {MIN_API_KEY_LENGTH} characters"
            )
        if self.operations_need_key and not keys:
            raise ValueError("CACHE_OPERATIONS_NEED_KEY needs CACHE_API_KEYS")
        return self

    @model_validator(mode="after")
    def _claims_expire_before_waiters_give_up(self) -> Self:
        if self.claim_ttl_s >= self.claim_wait_s:
            raise ValueError(
                f"CACHE_CLAIM_TTL_S ({self.claim_ttl_s:g}) must be below CACHE_CLAIM_WAIT_S "
                f"({self.claim_wait_s:g}): a waiter must outlive a dead holder's claim to take "
                "the work over, or it answers 503 while nobody works on it"
            )
        return self


def env_name(field: str) -> str:
    """The environment variable that sets ``field``."""
    return f"{ENV_PREFIX}{field}".upper()


def describe_error(error: ValidationError) -> str:
    """One line per bad variable, named as the operator set it."""
    lines = []
    for item in error.errors():
        if item["loc"]:
            lines.append(f"{env_name(str(item['loc'][0]))}: {item['msg']}")
        else:  # A rule across variables names them itself.
            lines.append(str(item["msg"]).removeprefix("Value error, "))
    return "invalid configuration:\n  " + "\n  ".join(lines)
