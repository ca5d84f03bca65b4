"""The public API: API Gateway REST with a stage cache used only for GET /payload/{id}."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from infra.config import ServiceConfig
from infra.nag import acknowledge

ID_PARAMETER = "method.request.path.id"
#: The one cached method, in the ``/resource/METHOD`` form stage method settings use.
CACHED_METHOD = "/payload/{id}/GET"


class PublicApi(Construct):
    """Explicit resources (no ``{proxy+}``), each a Lambda proxy integration.

    Caching is per method and off by default: only ``GET /payload/{id}`` is cached, keyed by
    the ``id`` path parameter (without the key, every id would share one cache entry). POST
    is never cached. ``/docs`` and ``/openapi.json`` are routed so the docs work behind the
    stage.
    """

    def __init__(
        self, scope: Construct, id: str, *, config: ServiceConfig, function: lambda_.IFunction
    ) -> None:
        super().__init__(scope, id)
        self.access_logs = logs.LogGroup(
            self,
            "AccessLogs",
            retention=config.log_retention,
            removal_policy=RemovalPolicy.RETAIN if config.retain_data else RemovalPolicy.DESTROY,
        )
        self.api = apigw.RestApi(
            self,
            "Api",
            description="cache-service",
            endpoint_types=[apigw.EndpointType.REGIONAL],
            # Responses are JSON, HTML and text, never compressed: no binary media types.
            cloud_watch_role=True,
            cloud_watch_role_removal_policy=RemovalPolicy.DESTROY,
            deploy_options=apigw.StageOptions(
                stage_name=config.stage_name,
                cache_cluster_enabled=True,
                cache_cluster_size=config.cache_cluster_size,
                # Stage-wide ("/*/*"): no caching; the one cached method overrides it below.
                caching_enabled=False,
                throttling_rate_limit=config.throttle_rate,
                throttling_burst_limit=config.throttle_burst,
                logging_level=apigw.MethodLoggingLevel.ERROR,
                data_trace_enabled=False,
                metrics_enabled=True,
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
                    )
                },
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
            cache_key_parameters=[ID_PARAMETER],
        )
        root = self.api.root
        payload = root.add_resource("payload")
        payload.add_method("POST", proxy)
        payload.add_resource("{id}").add_method(
            "GET",
            cached_by_id,
            request_parameters={ID_PARAMETER: True},
            request_validator=validator,
        )
        for path in ("health", "docs", "openapi.json"):
            root.add_resource(path).add_method("GET", proxy)
        self.url = self.api.url

        public = (
            "The HTTP contract is a public, unauthenticated API (as the service is anywhere "
            "else); stage throttling bounds what one caller can spend."
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
        acknowledge(
            self.api,
            "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
            "AmazonAPIGatewayPushToCloudWatchLogs]",
            "API Gateway's account-level logging role is documented to use exactly this "
            "AWS-managed policy; it only lets API Gateway write its own logs.",
        )
