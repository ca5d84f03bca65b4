"""The whole service on AWS, composed like its architecture diagram.

client -> API Gateway (stage cache: GET /payload/{id}) -> Lambda (in VPC)
                                 Lambda -> ElastiCache Serverless (TLS, shared tier)
                                 Lambda -> DynamoDB (gateway endpoint, durable store)
                                 Lambda -> X-Ray (interface endpoint, traces)
client -> SQS warm queue -> Lambda warm worker (same code, VPC and tiers; dead letters kept)
EventBridge schedule (off unless asked) -> Lambda warm worker (hot refill)
CloudWatch alarms (5xx rate, p99 latency, throttles, dead letters) -> SNS topic (-> e-mail)
"""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Stack
from constructs import Construct

from infra.alarms import Alarms
from infra.api import PublicApi
from infra.cache import SharedCache
from infra.config import ServiceConfig
from infra.dashboard import Dashboard
from infra.function import POWERTOOLS_ENVIRONMENT, ServiceFunction
from infra.network import Network
from infra.table import PayloadTable
from infra.warm_worker import WarmWorker


class CacheServiceStack(Stack):
    """Network, table, cache, function, API, warm worker and alarms, wired through explicit
    props."""

    def __init__(self, scope: Construct, id: str, *, config: ServiceConfig, **kwargs: Any) -> None:
        super().__init__(scope, id, **kwargs)
        network = Network(
            self,
            "Network",
            nat_gateways=config.nat_gateways,
            xray_endpoint=config.xray_endpoint,
            log_retention=config.log_retention,
            retain=config.retain_data,
        )
        table = PayloadTable(self, "Store", retain=config.retain_data)
        function = ServiceFunction(
            self,
            "Service",
            config=config,
            vpc=network.vpc,
            subnets=network.subnets,
            table=table.table,
        )
        network.admit(function.security_group)
        cache = SharedCache(
            self,
            "SharedCache",
            vpc=network.vpc,
            subnets=network.subnets,
            clients=function.security_group,
            engine=config.engine,
            max_data_gb=config.cache_max_data_gb,
        )
        environment = service_environment(config, table.table.table_name, cache.url)
        function.configure(environment)
        api = PublicApi(self, "Api", config=config, function=function.entry)
        alarms = Alarms(
            self,
            "Alarms",
            stage=api.stage,
            function=function.function,
            latency_p99_ms=config.alarm_p99_latency_ms,
            email=config.alarm_email,
        )

        warm = WarmWorker(
            self,
            "Warm",
            config=config,
            service=function,
            vpc=network.vpc,
            subnets=network.subnets,
            table=table.table,
            environment=environment,
        )
        alarms.watch_dead_letters(warm.dead_letters)
        service = POWERTOOLS_ENVIRONMENT["POWERTOOLS_SERVICE_NAME"]
        dashboard = Dashboard(
            self,
            "Dashboard",
            stage=api.stage,
            function=function.function,
            log_group=function.log_group,
            table=table.table,
            cache_name=cache.name,
            service=service,
        )
        alarms.watch_tiers(
            table_throttles=dashboard.table_throttles,
            cache_throttles=dashboard.cache_throttles,
            cache_bytes=dashboard.cache_bytes,
            cache_max_data_gb=config.cache_max_data_gb,
            service=service,
        )

        CfnOutput(self, "ApiUrl", value=api.url, description="cache-cli -h <this URL>")
        CfnOutput(self, "TableName", value=table.table.table_name)
        CfnOutput(self, "CacheEndpoint", value=cache.url)
        CfnOutput(
            self,
            "WarmQueueUrl",
            value=warm.queue.queue_url,
            description="cache-service warm FILE --queue <this URL>",
        )
        CfnOutput(self, "WarmDeadLetterQueueUrl", value=warm.dead_letters.queue_url)
        CfnOutput(
            self, "AlarmTopic", value=alarms.topic.topic_arn, description="alarm notifications"
        )
        if api.api_key is not None:
            CfnOutput(
                self,
                "ApiKeyId",
                value=api.api_key.key_id,
                description="aws apigateway get-api-key --api-key <this id> --include-value",
            )


def service_environment(config: ServiceConfig, table_name: str, redis_url: str) -> dict[str, str]:
    """The ``CACHE_*`` settings the function runs with (see cache_service.settings)."""
    environment = {
        "CACHE_STORE": "dynamodb",
        "CACHE_DYNAMODB_TABLE": table_name,
        "CACHE_REDIS_URL": redis_url,
        # ElastiCache Serverless speaks the cluster protocol only.
        "CACHE_REDIS_CLUSTER": "true",
        "CACHE_REDIS_TTL_S": str(config.redis_ttl_s),
        "CACHE_CLAIM_TTL_S": str(config.claim_ttl_s),
        "CACHE_CLAIM_WAIT_S": str(config.claim_wait_s),
    }
    if config.cache_ttl_s > 0:
        # The stage cache replays GET /payload/{id} answers: nothing of one request in them.
        environment["CACHE_SHARED_CACHE"] = "true"
    if config.transformer_url:
        environment["CACHE_TRANSFORMER_URL"] = config.transformer_url
    if config.transformer_id:
        environment["CACHE_TRANSFORMER_ID"] = config.transformer_id
    return environment
