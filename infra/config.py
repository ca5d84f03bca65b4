"""Every deploy-time choice in one typed object, read from CDK context with working defaults.

``cdk deploy`` with no context at all gives a small, cheap-as-possible, retained deployment;
``cdk deploy -c architecture=x86_64 -c retain_data=false`` and so on change one choice each.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields
from typing import Any

from aws_cdk import RemovalPolicy
from aws_cdk import aws_logs as logs
from constructs import Node

ENGINES = ("redis", "valkey")
ARCHITECTURES = ("arm64", "x86_64")
#: The longest a stage cache entry may live: it is also the longest a 503 or a 404 is replayed.
MAX_CACHE_TTL_S = 60
#: What an EventBridge schedule expression may be: ``rate(1 hour)``, ``rate(15 minutes)``, or a
#: ``cron(...)`` of six fields. A rate of 1 takes the singular unit, any other the plural.
SCHEDULE = re.compile(
    r"^(?:rate\((?:1 (?:minute|hour|day)|(?:[2-9]|[1-9][0-9]+) (?:minutes|hours|days))\)"
    r"|cron\(\S+(?: \S+){5}\))$"
)
CACHE_CLUSTER_SIZES = ("0.5", "1.6", "6.1", "13.5", "28.4", "58.2", "118", "237")

#: The CloudWatch retention periods a context value may name, in days.
RETENTION = {
    1: logs.RetentionDays.ONE_DAY,
    7: logs.RetentionDays.ONE_WEEK,
    14: logs.RetentionDays.TWO_WEEKS,
    30: logs.RetentionDays.ONE_MONTH,
    90: logs.RetentionDays.THREE_MONTHS,
    180: logs.RetentionDays.SIX_MONTHS,
    365: logs.RetentionDays.ONE_YEAR,
}


def removal(retain: bool) -> RemovalPolicy:
    """What a delete does to data and logs: kept, or deleted with the stack (``retain_data``).

    Kept *except on create*: a stack whose first create fails and rolls back leaves nothing
    behind, where a plain Retain left the table and log groups to collide with the next try.
    """
    return RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE if retain else RemovalPolicy.DESTROY


class ConfigError(ValueError):
    """A context value is out of range; the message names the context key."""


@dataclass(frozen=True)
class ServiceConfig:
    """What the stack builds; each field is also a context key of the same name."""

    stage_name: str = "prod"
    #: ElastiCache Serverless engine. Valkey: lower prices and a 100 MB metered minimum where
    #: Redis OSS meters at least 1 GB (see INSTRUCTIONS.md); the same protocol for redis-py.
    engine: str = "valkey"
    #: Ceiling on the serverless cache's stored data, which is what it bills by the hour.
    cache_max_data_gb: int = 5
    architecture: str = "arm64"
    memory_mb: int = 1024
    #: Below API Gateway's 29 s integration timeout, so the client gets our answer, not a 504.
    timeout_s: int = 28
    reserved_concurrency: int | None = None
    #: Lambda SnapStart: every deploy publishes a version, Lambda snapshots it after its init,
    #: and new environments resume from the snapshot; the API invokes the ``live`` alias.
    snapstart: bool = True
    #: Environments kept initialised on the ``live`` alias, billed while they exist: the
    #: alternative to SnapStart, which Lambda does not allow on the same version.
    provisioned_concurrency: int | None = None
    log_retention_days: int = 30
    #: API Gateway's cache: 0.5 GB is the smallest (and cheapest) size.
    cache_cluster_size: str = "0.5"
    #: API Gateway's stage cache keeps any answer, a 503 or a 404 too, for this long: the TTL is
    #: the bound on a pinned error, hence short. 0 turns the stage cache (and its bill) off.
    cache_ttl_s: int = 10
    throttle_rate: int = 100
    throttle_burst: int = 200
    #: False only for stacks you mean to throw away: the table is then deleted with the stack.
    retain_data: bool = True
    #: Bounded below the Lambda timeout: a waiting request must give up before the function does.
    claim_wait_s: float = 20.0
    #: Below the function's timeout: a holder cut off with its invocation (or frozen with its
    #: environment) blocks its work this long at most, so a waiter takes it over in time.
    claim_ttl_s: float = 10.0
    redis_ttl_s: int = 86_400
    transformer_url: str | None = None
    transformer_id: str | None = None
    #: NAT gateways (one per AZ at most). 0 keeps the VPC off the internet; an HTTP transformer
    #: outside AWS needs at least 1, and each one bills by the hour.
    nat_gateways: int = 0
    #: The API Gateway CloudWatch role is one per account and region, shared by every REST API:
    #: the stack sets it (and keeps it on destroy) only when asked.
    apigateway_cloudwatch_role: bool = False
    #: An X-Ray interface endpoint, so that traces leave subnets without a route out.
    xray_endpoint: bool = True
    #: Alarms go to an SNS topic; this address is subscribed to it (AWS mails a confirmation).
    alarm_email: str | None = None
    #: The p99 latency (ms) over five minutes that, three periods running, raises the alarm.
    alarm_p99_latency_ms: int = 5000
    #: The warm worker's timeout; its queue hides a message for six times as long (AWS's
    #: guidance for an SQS event source), so a message is never redelivered mid-run.
    warm_timeout_s: int = 300
    #: Most warm worker invocations at once (the event source's maximum concurrency): the
    #: worker shares the account's concurrency, and the transformer, with the API.
    warm_max_concurrency: int = 2
    #: An EventBridge schedule (``rate(15 minutes)``) that refills Redis with the ``warm_hot``
    #: most-read payloads; unset, there is no schedule.
    warm_schedule: str | None = None
    #: How many of the most-read payloads each scheduled refill loads into Redis.
    warm_hot: int = 1000
    #: API keys on the payload routes, with a usage plan limiting each key (rate, burst and a
    #: daily quota); the stack creates one key, and more are added to the plan by hand.
    api_keys: bool = False
    api_key_rate: int = 50
    api_key_burst: int = 100
    api_key_quota_per_day: int = 1_000_000

    def __post_init__(self) -> None:
        checks = [
            (self.engine in ENGINES, "engine", f"one of {ENGINES}"),
            (self.architecture in ARCHITECTURES, "architecture", f"one of {ARCHITECTURES}"),
            (self.cache_cluster_size in CACHE_CLUSTER_SIZES, "cache_cluster_size", "a size"),
            (
                0 <= self.cache_ttl_s <= MAX_CACHE_TTL_S,
                "cache_ttl_s",
                f"0..{MAX_CACHE_TTL_S}: API Gateway caches 5xx and 404 answers too, for the TTL",
            ),
            (1 <= self.timeout_s <= 29, "timeout_s", "1..29 (API Gateway waits 29 s)"),
            (0 < self.claim_wait_s < self.timeout_s, "claim_wait_s", "below timeout_s"),
            (0 < self.claim_ttl_s < self.timeout_s, "claim_ttl_s", "below timeout_s"),
            (
                self.claim_ttl_s < self.claim_wait_s,
                "claim_ttl_s",
                "below claim_wait_s: a waiter must outlive a dead holder's claim to take it over",
            ),
            (self.throttle_rate > 0 and self.throttle_burst > 0, "throttle_*", "positive"),
            (self.memory_mb >= 128, "memory_mb", "at least 128"),
            (
                self.provisioned_concurrency is None or self.provisioned_concurrency >= 1,
                "provisioned_concurrency",
                "at least 1 (unset for none)",
            ),
            (
                not (self.snapstart and self.provisioned_concurrency is not None),
                "provisioned_concurrency",
                "unset while snapstart is true: Lambda does not allow SnapStart and provisioned "
                "concurrency together (-c snapstart=false to provision instead)",
            ),
            (1 <= self.cache_max_data_gb <= 5000, "cache_max_data_gb", "1..5000"),
            (self.log_retention_days in RETENTION, "log_retention_days", f"in {list(RETENTION)}"),
            (self.alarm_p99_latency_ms > 0, "alarm_p99_latency_ms", "positive"),
            (self.alarm_email is None or "@" in self.alarm_email, "alarm_email", "an address"),
            (1 <= self.warm_timeout_s <= 900, "warm_timeout_s", "1..900 (Lambda's maximum)"),
            (
                2 <= self.warm_max_concurrency <= 1000,
                "warm_max_concurrency",
                "2..1000 (an SQS event source's maximum concurrency)",
            ),
            (
                self.warm_schedule is None or SCHEDULE.match(self.warm_schedule) is not None,
                "warm_schedule",
                "an EventBridge schedule: rate(1 hour), rate(15 minutes) or cron(...) of six "
                "fields",
            ),
            (self.warm_hot >= 1, "warm_hot", "at least 1"),
            (
                0 < self.api_key_rate <= self.throttle_rate
                and 0 < self.api_key_burst <= self.throttle_burst,
                "api_key_*",
                "positive and within the stage's throttle_rate and throttle_burst",
            ),
            (self.api_key_quota_per_day > 0, "api_key_quota_per_day", "positive"),
            (0 <= self.nat_gateways <= 2, "nat_gateways", "0..2 (one per availability zone)"),
            (
                self.transformer_url is None or self.nat_gateways > 0,
                "nat_gateways",
                "at least 1 with transformer_url: without NAT the function's subnets have no "
                "route to a transformer outside the VPC",
            ),
        ]
        for ok, key, expected in checks:
            if not ok:
                raise ConfigError(f"context {key} must be {expected}")

    @property
    def log_retention(self) -> logs.RetentionDays:
        """CloudWatch's name for ``log_retention_days``."""
        return RETENTION[self.log_retention_days]

    @classmethod
    def from_context(cls, node: Node) -> ServiceConfig:
        """The config from ``-c key=value`` / ``cdk.json`` context; unset keys keep defaults."""
        values: dict[str, Any] = {}
        for field in fields(cls):
            raw = node.try_get_context(field.name)
            if raw is None:
                continue
            default = getattr(cls, field.name)
            values[field.name] = _coerce(raw, default, field.name)
        return cls(**values)


def _coerce(raw: Any, default: Any, key: str) -> Any:
    # ``-c`` values arrive as strings; cdk.json values arrive typed.
    try:
        if isinstance(default, bool):
            return raw if isinstance(raw, bool) else str(raw).lower() in ("1", "true", "yes")
        if isinstance(default, int) or key in ("reserved_concurrency", "provisioned_concurrency"):
            return int(raw)
        if isinstance(default, float):
            return float(raw)
    except ValueError as exc:
        raise ConfigError(f"context {key}: {exc}") from None
    return str(raw)
