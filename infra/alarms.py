"""Alarms on what a caller feels: server errors, slow answers, refused invocations; on warm
work that failed for good; and on the causes under them: throttled tiers, a failing
transformer."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from cache_service.metrics import NAMESPACE

PERIOD = Duration.minutes(5)
#: Share of requests answered 5xx (API Gateway's 5XXError averages to that share).
SERVER_ERROR_RATE = 0.01
#: Share of failed transformer calls (%) that raises its alarm.
TRANSFORMER_ERROR_PERCENT = 5
#: Share of the cache's storage cap that raises its alarm: past the cap it evicts.
CACHE_FULL_SHARE = 0.8


class Alarms(Construct):
    """Three alarms, and a fourth from ``watch_dead_letters``, each notifying an SNS topic when
    it fires and when it clears.

    - 5xx rate above 1 % in two five-minute periods running (the service's 503s and 504s, and
      API Gateway's own 502s and 504s when the function fails or runs out of time);
    - p99 latency above ``latency_p99_ms`` in three periods running (sustained, not a spike);
    - any Lambda throttle in a period (a refused invocation is a failed request);
    - any message in the warm worker's dead-letter queue.

    No traffic is not an alarm: missing data counts as fine.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        stage: apigw.Stage,
        function: lambda_.IFunction,
        latency_p99_ms: int,
        email: str | None,
    ) -> None:
        super().__init__(scope, id)
        self.topic = sns.Topic(self, "Topic", display_name="cache-service alarms", enforce_ssl=True)
        if email:
            self.topic.add_subscription(subscriptions.EmailSubscription(email))
        self.alarms = [
            self._above(
                "ServerErrorRate",
                stage.metric_server_error(period=PERIOD, statistic="Average"),
                SERVER_ERROR_RATE,
                periods=2,
                description="More than 1 % of requests answered 5xx, 10 minutes running.",
            ),
            self._above(
                "LatencyP99",
                stage.metric_latency(period=PERIOD, statistic="p99"),
                latency_p99_ms,
                periods=3,
                description=f"p99 latency above {latency_p99_ms} ms, 15 minutes running.",
            ),
            self._above(
                "Throttles",
                function.metric_throttles(period=PERIOD, statistic="Sum"),
                0,
                periods=1,
                description="The function refused invocations (concurrency exhausted).",
            ),
        ]
        self._notify = actions.SnsAction(self.topic)
        for alarm in self.alarms:
            self._notifies(alarm)

    def watch_dead_letters(self, queue: sqs.IQueue) -> cloudwatch.Alarm:
        """An alarm on any message in ``queue``: work that failed every delivery, kept there
        for someone to look at (and to redrive once the cause is fixed)."""
        alarm = self._above(
            "DeadLetters",
            queue.metric_approximate_number_of_messages_visible(period=PERIOD, statistic="Maximum"),
            0,
            periods=1,
            description="Warm messages failed every delivery and wait in the dead-letter queue.",
        )
        self.alarms.append(alarm)
        self._notifies(alarm)
        return alarm

    def watch_tiers(
        self,
        *,
        table_throttles: cloudwatch.IMetric,
        cache_throttles: cloudwatch.IMetric,
        cache_bytes: cloudwatch.IMetric,
        cache_max_data_gb: int,
        service: str,
    ) -> list[cloudwatch.Alarm]:
        """Alarms on what the tiers under the function refuse, on a cache about to evict, and
        on a failing transformer: causes, where the first three alarms show symptoms."""
        errors, ok = (
            cloudwatch.Metric(
                namespace=NAMESPACE,
                metric_name="TransformerCalls",
                dimensions_map={"service": service, "outcome": outcome},
                period=PERIOD,
                statistic="Sum",
            )
            for outcome in ("error", "ok")
        )
        rate = cloudwatch.MathExpression(
            expression="100 * FILL(errors, 0) / (FILL(errors, 0) + FILL(ok, 0))",
            using_metrics={"errors": errors, "ok": ok},
            label="transformer error rate (%)",
            period=PERIOD,
        )
        added = [
            self._above(
                "TableThrottles",
                table_throttles,
                0,
                periods=1,
                description="DynamoDB throttled the store's requests (a hot key, or an account "
                "limit): requests slow down and may answer 503.",
            ),
            self._above(
                "CacheThrottles",
                cache_throttles,
                0,
                periods=1,
                description="ElastiCache throttled commands: the workload grew faster than the "
                "serverless cache scales; hits fall through to DynamoDB meanwhile.",
            ),
            self._above(
                "CacheNearlyFull",
                cache_bytes,
                CACHE_FULL_SHARE * cache_max_data_gb * 10**9,
                periods=3,
                description=f"The cache holds more than {CACHE_FULL_SHARE:.0%} of its "
                f"{cache_max_data_gb} GB cap, 15 minutes running: at the cap it evicts, and "
                "hits fall through to DynamoDB (raise cache_max_data_gb or shorten redis_ttl_s).",
            ),
            self._above(
                "TransformerErrorRate",
                rate,
                TRANSFORMER_ERROR_PERCENT,
                periods=2,
                description=f"More than {TRANSFORMER_ERROR_PERCENT} % of transformer calls "
                "failed, 10 minutes running: the paid dependency is failing.",
            ),
        ]
        for alarm in added:
            self.alarms.append(alarm)
            self._notifies(alarm)
        return added

    def _notifies(self, alarm: cloudwatch.Alarm) -> None:
        alarm.add_alarm_action(self._notify)
        alarm.add_ok_action(self._notify)

    def _above(
        self,
        id: str,
        metric: cloudwatch.IMetric,
        threshold: float,
        *,
        periods: int,
        description: str,
    ) -> cloudwatch.Alarm:
        """An alarm when ``metric`` exceeds ``threshold`` for ``periods`` periods running."""
        return cloudwatch.Alarm(
            self,
            id,
            metric=metric,
            threshold=threshold,
            evaluation_periods=periods,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            alarm_description=description,
        )
