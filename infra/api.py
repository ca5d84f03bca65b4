"""The public API: API Gateway REST with a stage cache used only for GET /payload/{id}."""

from __future__ import annotations

from typing import TypedDict

from aws_cdk import Duration, Stack
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from infra.config import ServiceConfig, removal
from infra.nag import acknowledge

ID_PARAMETER = "method.request.path.id"
#: In the cache key, so that a 304 (answered to one client's If-None-Match) is replayed only to
#: requests carrying that same header; a request without it has its own entry.
IF_NONE_MATCH = "method.request.header.If-None-Match"
#: The one cached method, in the ``/resource/METHOD`` form stage method settings use.
CACHED_METHOD = "/payload/{id}/GET"
#: Routed GETs besides the payload: liveness, readiness and the docs. Not ``/metrics``: each
#: Lambda execution environment has its own Prometheus registry, so a scrape through the
#: stage would read one random instance; on AWS the metrics are CloudWatch's.
PLAIN_ROUTES = ("health", "ready", "docs", "openapi.json")


class _ThrottlingAndLogging(TypedDict):
    throttling_rate_limit: int
    throttling_burst_limit: int
    logging_level: apigw.MethodLoggingLevel
    data_trace_enabled: bool
    metrics_enabled: bool


class PublicApi(Construct):
    """Explicit resources (no ``{proxy+}``), each a Lambda proxy integration.

    Caching is per method and off by default: only ``GET /payload/{id}`` is cached, keyed by
    the ``id`` path parameter and the ``If-None-Match`` header, for ``cache_ttl_s``. API Gateway
    replays whatever the function answered, a 503 or a 404 included, so that TTL is short (see
    INSTRUCTIONS.md). POST is never cached. ``/docs`` and ``/openapi.json`` are routed so the
    docs work behind the stage. X-Ray traces every request from the stage on.
    """

    def __init__(
        self, scope: Construct, id: str, *, config: ServiceConfig, function: lambda_.IFunction
    ) -> None:
        super().__init__(scope, id)
        self.access_logs = logs.LogGroup(
            self,
            "AccessLogs",
            retention=config.log_retention,
            removal_policy=removal(config.retain_data),
        )
        cached = config.cache_ttl_s > 0
        # A method's own settings replace the stage-wide ones rather than adding to them, so
        # the cached method repeats throttling, logging and metrics.
        throttling_and_logging = _ThrottlingAndLogging(
            throttling_rate_limit=config.throttle_rate,
            throttling_burst_limit=config.throttle_burst,
            logging_level=apigw.MethodLoggingLevel.ERROR,
            data_trace_enabled=False,
            metrics_enabled=True,
        )
        self.api = apigw.RestApi(
            self,
            "Api",
            # The name is the metrics' ApiName dimension: one per stack, so alarms never mix two.
            rest_api_name=Stack.of(self).stack_name,
            description="cache-service",
            endpoint_types=[apigw.EndpointType.REGIONAL],
            # Responses are JSON, HTML and text, never compressed: no binary media types.
            # The CloudWatch role is the account's (one per region, for every REST API): set
            # only on request, and then kept when the stack goes, since others may rely on it.
            cloud_watch_role=config.apigateway_cloudwatch_role,
            cloud_watch_role_removal_policy=(
                removal(True) if config.apigateway_cloudwatch_role else None
            ),
            deploy_options=apigw.StageOptions(
                stage_name=config.stage_name,
                tracing_enabled=True,
                cache_cluster_enabled=cached,
                cache_cluster_size=config.cache_cluster_size if cached else None,
                # Stage-wide ("/*/*"): no caching; the one cached method overrides it below.
                caching_enabled=False,
                **throttling_and_logging,
                access_log_destination=apigw.LogGroupLogDestination(self.access_logs),
                access_log_format=apigw.AccessLogFormat.json_with_standard_fields(
                    caller=False,
                    http_method=True,
                    ip=True,
                    protocol=True,
                    request_time=True,
                    resource_path=True,
                    response_length=True,
                    status=True,
                    user=False,
                ),
                method_options={
                    CACHED_METHOD: apigw.MethodDeploymentOptions(
                        caching_enabled=True,
                        cache_ttl=Duration.seconds(config.cache_ttl_s),
                        cache_data_encrypted=True,
                        **throttling_and_logging,
                    )
                }
                if cached
                else None,
            ),
        )
        validator = self.api.add_request_validator(
            "Parameters", validate_request_parameters=True, validate_request_body=False
        )
        proxy = apigw.LambdaIntegration(function, proxy=True, allow_test_invoke=False)
        cached_by_id = apigw.LambdaIntegration(
            function,
            proxy=True,
            allow_test_invoke=False,
            cache_key_parameters=[ID_PARAMETER, IF_NONE_MATCH],
        )
        root = self.api.root
        payload = root.add_resource("payload")
        # API Gateway checks the key before its cache: a cached answer needs a key as well.
        keyed = config.api_keys
        post = payload.add_method("POST", proxy, api_key_required=keyed)
        get = payload.add_resource("{id}").add_method(
            "GET",
            cached_by_id,
            request_parameters={ID_PARAMETER: True, IF_NONE_MATCH: False},
            request_validator=validator,
            api_key_required=keyed,
        )
        self.api_key: apigw.IApiKey | None = None
        if keyed:
            plan = self.api.add_usage_plan(
                "UsagePlan",
                description="cache-service: each key's rate, burst and daily quota",
                throttle=apigw.ThrottleSettings(
                    rate_limit=config.api_key_rate, burst_limit=config.api_key_burst
                ),
                quota=apigw.QuotaSettings(
                    limit=config.api_key_quota_per_day, period=apigw.Period.DAY
                ),
                api_stages=[
                    apigw.UsagePlanPerApiStage(
                        api=self.api,
                        stage=self.api.deployment_stage,
                        throttle=[
                            apigw.ThrottlingPerMethod(
                                method=method,
                                throttle=apigw.ThrottleSettings(
                                    rate_limit=config.api_key_rate,
                                    burst_limit=config.api_key_burst,
                                ),
                            )
                            for method in (post, get)
                        ],
                    )
                ],
            )
            self.api_key = self.api.add_api_key(
                "ApiKey", description="cache-service: the stack's first key"
            )
            plan.add_api_key(self.api_key)
        for path in PLAIN_ROUTES:
            root.add_resource(path).add_method("GET", proxy)
        self.url = self.api.url
        self.stage = self.api.deployment_stage
        # The stage's execution logging writes to a group API Gateway would otherwise create
        # itself, never expiring and outliving the stack: made here first, under the name API
        # Gateway uses, with the retention and removal of the others.
        self.execution_logs = logs.LogGroup(
            self,
            "ExecutionLogs",
            log_group_name=f"API-Gateway-Execution-Logs_{self.api.rest_api_id}/{config.stage_name}",
            retention=config.log_retention,
            removal_policy=removal(config.retain_data),
        )
        self.stage.node.add_dependency(self.execution_logs)

        public = (
            "With -c api_keys=true the payload routes need an API key, and a usage plan limits "
            "each key's rate, burst and daily quota; without it the contract is public (as the "
            "service is anywhere by default) and stage throttling, shared by every caller, is "
            "the only bound. Callers are machines: no Cognito user pool or IAM signing."
        )
        acknowledge(self.api, "AwsSolutions-APIG4", public)
        acknowledge(self.api, "AwsSolutions-COG4", public)
        acknowledge(
            self.api,
            "AwsSolutions-APIG2",
            "API Gateway validates the required id parameter; bodies are validated by the "
            "service, which owns the contract's 413/415/422 JSON answers. An API Gateway model "
            "would duplicate those rules and answer in a different shape.",
        )
        acknowledge(
            self.api,
            "AwsSolutions-APIG3",
            "A WAF web ACL bills per month and per request; stage throttling is the default "
            "guard. Associate a web ACL before exposing the API to untrusted traffic at scale.",
        )
        if config.apigateway_cloudwatch_role:
            acknowledge(
                self.api,
                "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
                "AmazonAPIGatewayPushToCloudWatchLogs]",
                "API Gateway's account-level logging role is documented to use exactly this "
                "AWS-managed policy; it only lets API Gateway write its own logs.",
            )
