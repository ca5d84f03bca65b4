"""One CloudWatch dashboard, one screen: what callers feel, what Lambda does, what the service
counts, and what the tiers under it spend. Rows top to bottom follow a request."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from cache_service.metrics import EMF_METRICS, NAMESPACE

PERIOD = Duration.minutes(5)
WIDTH = 6  # four widgets a row: the dashboard grid is 24 wide
#: The DynamoDB operations the store calls (``ITEM_ACTIONS``): throttles and latency by each.
TABLE_OPERATIONS = {
    "GetItem": dynamodb.Operation.GET_ITEM,
    "BatchGetItem": dynamodb.Operation.BATCH_GET_ITEM,
    "PutItem": dynamodb.Operation.PUT_ITEM,
    "UpdateItem": dynamodb.Operation.UPDATE_ITEM,
    "DeleteItem": dynamodb.Operation.DELETE_ITEM,
}
#: Lambda's own REPORT line (JSON log format): init (cold start) and restore (SnapStart).
START_QUERY = (
    'filter type = "platform.report"\n'
    "| stats avg(record.metrics.initDurationMs) as init_ms,"
    " max(record.metrics.initDurationMs) as init_max_ms,"
    " avg(record.metrics.restoreDurationMs) as restore_ms by bin(5m)"
)


def service_metric(
    name: str, label: str, *, service: str, statistic: str = "Sum"
) -> cloudwatch.IMetric:
    """A sum of the service's EMF metric ``name`` over all its dimension values: a SEARCH,
    since routes, statuses and tiers are only known at run time."""
    dimensions = ",".join(["service", *EMF_METRICS[name]])
    return cloudwatch.MathExpression(
        expression=(
            f'SEARCH(\'{{{NAMESPACE},{dimensions}}} MetricName="{name}" '
            f"service=\"{service}\"', '{statistic}', {int(PERIOD.to_seconds())})"
        ),
        label=label,
        period=PERIOD,
    )


class Dashboard(Construct):
    """The stack's dashboard (see the module); every metric it names exists (tests/infra)."""

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        stage: apigw.Stage,
        function: lambda_.IFunction,
        log_group: logs.ILogGroup,
        table: dynamodb.ITable,
        cache_name: str,
        service: str,
    ) -> None:
        super().__init__(scope, id)

        def graph(title: str, *metrics: cloudwatch.IMetric) -> cloudwatch.GraphWidget:
            return cloudwatch.GraphWidget(title=title, left=list(metrics), width=WIDTH, height=6)

        def emf(name: str, statistic: str = "Sum") -> cloudwatch.IMetric:
            return service_metric(
                name, f"{name} ({statistic})", service=service, statistic=statistic
            )

        def cache(name: str, statistic: str) -> cloudwatch.Metric:
            return cloudwatch.Metric(
                namespace="AWS/ElastiCache",
                metric_name=name,
                # ElastiCache Serverless publishes per cache, under its name.
                dimensions_map={"clusterId": cache_name},
                statistic=statistic,
                period=PERIOD,
            )

        self.dashboard = cloudwatch.Dashboard(
            self,
            "Dashboard",
            default_interval=Duration.hours(3),
            widgets=[
                [
                    graph(
                        "API: requests and errors",
                        stage.metric_count(period=PERIOD, statistic="Sum"),
                        stage.metric_client_error(period=PERIOD, statistic="Sum"),
                        stage.metric_server_error(period=PERIOD, statistic="Sum"),
                    ),
                    graph(
                        "API: latency (ms)",
                        stage.metric_latency(period=PERIOD, statistic="p50"),
                        stage.metric_latency(period=PERIOD, statistic="p99"),
                    ),
                    graph(
                        "API: stage cache",
                        stage.metric_cache_hit_count(period=PERIOD, statistic="Sum"),
                        stage.metric_cache_miss_count(period=PERIOD, statistic="Sum"),
                    ),
                    graph(
                        "Lambda: invocations",
                        function.metric_invocations(period=PERIOD, statistic="Sum"),
                        function.metric_errors(period=PERIOD, statistic="Sum"),
                        function.metric_throttles(period=PERIOD, statistic="Sum"),
                    ),
                ],
                [
                    graph(
                        "Lambda: duration p99 and concurrency",
                        function.metric_duration(period=PERIOD, statistic="p99"),
                        function.metric("ConcurrentExecutions", period=PERIOD, statistic="Maximum"),
                    ),
                    cloudwatch.LogQueryWidget(
                        title="Lambda: init and restore (ms)",
                        log_group_names=[log_group.log_group_name],
                        query_string=START_QUERY,
                        view=cloudwatch.LogQueryVisualizationType.LINE,
                        width=WIDTH,
                        height=6,
                    ),
                    graph("Service: requests by route, status, cache", emf("Requests")),
                    graph("Service: lookups by tier and outcome", emf("TierLookups")),
                ],
                [
                    graph(
                        "Service: transformer calls, errors, strings",
                        emf("TransformerCalls"),
                        emf("TransformerStrings"),
                    ),
                    graph(
                        "Service: transformer latency (ms)",
                        emf("TransformerLatency", "p50"),
                        emf("TransformerLatency", "p99"),
                    ),
                    graph(
                        "Service: coordination",
                        emf("SingleFlightWaits"),
                        emf("ClaimsLapsed"),
                        emf("DamagedValues"),
                    ),
                    graph(
                        "DynamoDB: capacity and throttles",
                        table.metric_consumed_read_capacity_units(period=PERIOD, statistic="Sum"),
                        table.metric_consumed_write_capacity_units(period=PERIOD, statistic="Sum"),
                        table.metric_throttled_requests_for_operations(
                            operations=list(TABLE_OPERATIONS.values()),
                            period=PERIOD,
                            statistic="Sum",
                        ),
                    ),
                ],
                [
                    graph(
                        "DynamoDB: latency (ms)",
                        *(
                            table.metric_successful_request_latency(
                                dimensions_map={"TableName": table.table_name, "Operation": o},
                                period=PERIOD,
                                statistic="Average",
                            )
                            for o in TABLE_OPERATIONS
                        ),
                    ),
                    graph(
                        "ElastiCache: ECPUs and throttled commands",
                        cache("ElastiCacheProcessingUnits", "Sum"),
                        cache("ThrottledCmds", "Sum"),
                    ),
                    graph("ElastiCache: bytes stored", cache("BytesUsedForCache", "Maximum")),
                    graph(
                        "Service: hot set and cold starts",
                        emf("HotSetFlushes"),
                        emf("HotSetDropped"),
                        emf("ColdStart"),
                    ),
                ],
            ],
        )
        self.cache_throttles = cache("ThrottledCmds", "Sum")
        self.cache_bytes = cache("BytesUsedForCache", "Maximum")
        self.table_throttles = table.metric_throttled_requests_for_operations(
            operations=list(TABLE_OPERATIONS.values()), period=PERIOD, statistic="Sum"
        )
