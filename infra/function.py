"""The service function: the app behind Mangum, in the VPC, with only the access it uses."""

from __future__ import annotations

from pathlib import Path
from typing import TypedDict
from urllib.parse import urlsplit

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from cache_service.metrics import NAMESPACE
from cache_service.stores.dynamodb.store import ITEM_ACTIONS
from infra.bundling import function_bundling, layer_bundling
from infra.config import ServiceConfig, removal
from infra.nag import acknowledge

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "service"
LAYER = ROOT / "infra" / "layer"
HANDLER = "cache_service.aws.handler.handler"

#: The item actions the DynamoDB tier calls; nothing else (no Scan, no Query, no table admin).
TABLE_ACTIONS = ITEM_ACTIONS

#: Read by Powertools for AWS Lambda: the service name on logs, traces and metrics, and the
#: CloudWatch namespace its metrics (EMF) go to.
POWERTOOLS_ENVIRONMENT = {
    "POWERTOOLS_SERVICE_NAME": "cache-service",
    "POWERTOOLS_METRICS_NAMESPACE": NAMESPACE,
}


#: Lambda's structured logging: its own lines (START, END, REPORT with durations) as JSON, like
#: the application's, so one Logs Insights query reads both. The application level stays INFO:
#: the EMF metric documents carry no "level" and Lambda files them as INFO, so a higher level
#: would drop the metrics with the logs.
class LoggingOptions(TypedDict):
    logging_format: lambda_.LoggingFormat
    application_log_level_v2: lambda_.ApplicationLogLevel
    system_log_level_v2: lambda_.SystemLogLevel


LOGGING_CONFIG = LoggingOptions(
    logging_format=lambda_.LoggingFormat.JSON,
    application_log_level_v2=lambda_.ApplicationLogLevel.INFO,
    system_log_level_v2=lambda_.SystemLogLevel.INFO,
)

ARCHITECTURES = {"arm64": lambda_.Architecture.ARM_64, "x86_64": lambda_.Architecture.X86_64}

#: The alias the API invokes when the function publishes versions.
ALIAS = "live"


class ServiceFunction(Construct):
    """The Lambda function and its security group, log group, layer and table grant."""

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        config: ServiceConfig,
        vpc: ec2.IVpc,
        subnets: ec2.SubnetSelection,
        table: dynamodb.ITable,
    ) -> None:
        super().__init__(scope, id)
        self.security_group = ec2.SecurityGroup(
            self,
            "SecurityGroup",
            vpc=vpc,
            description="cache-service function: egress only where the stack opens it",
            allow_all_outbound=False,
        )
        # DynamoDB, X-Ray and the cache each open their own port to this group; an HTTP
        # transformer outside AWS (through NAT) is the one destination with no narrower peer.
        transformer_port = _port(config.transformer_url)
        if transformer_port is not None:
            self.security_group.add_egress_rule(
                ec2.Peer.any_ipv4(), ec2.Port.tcp(transformer_port), "the HTTP transformer"
            )
        self.log_group = logs.LogGroup(
            self,
            "Logs",
            retention=config.log_retention,
            removal_policy=removal(config.retain_data),
        )
        architecture = ARCHITECTURES[config.architecture]
        self.layer = lambda_.LayerVersion(
            self,
            "Dependencies",
            code=lambda_.Code.from_asset(
                str(LAYER),
                bundling=layer_bundling(LAYER / "requirements.txt", config.architecture),
            ),
            compatible_runtimes=[lambda_.Runtime.PYTHON_3_12],
            compatible_architectures=[architecture],
            description="cache-service run-time dependencies",
        )
        #: The service's code: the API's function and the warm worker run the same asset.
        self.code = lambda_.Code.from_asset(
            str(SOURCE),
            exclude=["**/__pycache__", "**/*.pyc", "*.egg-info"],
            bundling=function_bundling(SOURCE, config.architecture),
        )
        self.function = lambda_.Function(
            self,
            "Function",
            runtime=lambda_.Runtime.PYTHON_3_12,
            architecture=architecture,
            handler=HANDLER,
            code=self.code,
            layers=[self.layer],
            memory_size=config.memory_mb,
            timeout=Duration.seconds(config.timeout_s),
            reserved_concurrent_executions=config.reserved_concurrency,
            vpc=vpc,
            vpc_subnets=subnets,
            security_groups=[self.security_group],
            log_group=self.log_group,
            **LOGGING_CONFIG,
            tracing=lambda_.Tracing.ACTIVE,
            environment=POWERTOOLS_ENVIRONMENT,
            description="cache-service HTTP API (FastAPI behind Mangum)",
            # SnapStart needs no EFS and at most 512 MB of ephemeral storage: this function
            # mounts none and keeps Lambda's default of 512 MB.
            snap_start=lambda_.SnapStartConf.ON_PUBLISHED_VERSIONS if config.snapstart else None,
            # A replaced version is deleted: each version kept would keep its snapshot cached
            # (billed per GB-second) for nothing, since only the alias is ever invoked.
            current_version_options=lambda_.VersionOptions(removal_policy=RemovalPolicy.DESTROY),
        )
        table.grant(self.function, *TABLE_ACTIONS)
        acknowledge_lambda_findings(self.function)
        #: What the API invokes: the ``live`` alias on the version this deploy published when
        #: SnapStart or provisioned concurrency needs one, otherwise the function itself.
        self.entry: lambda_.IFunction = self.function
        self.alias: lambda_.Alias | None = None
        if config.snapstart or config.provisioned_concurrency is not None:
            self.alias = lambda_.Alias(
                self,
                "Live",
                alias_name=ALIAS,
                version=self.function.current_version,
                provisioned_concurrent_executions=config.provisioned_concurrency,
            )
            self.entry = self.alias

    def configure(self, environment: dict[str, str]) -> None:
        """Add the service's ``CACHE_*`` variables (known only once the tiers exist)."""
        for key, value in environment.items():
            self.function.add_environment(key, value)


def acknowledge_lambda_findings(function: lambda_.Function) -> None:
    """The findings every service function shares, each with the reason it does not apply."""
    managed = "arn:<AWS::Partition>:iam::aws:policy/service-role/"
    for policy in ("AWSLambdaBasicExecutionRole", "AWSLambdaVPCAccessExecutionRole"):
        acknowledge(
            function,
            f"AwsSolutions-IAM4[Policy::{managed}{policy}]",
            "Lambda's own execution policies: writing the function's logs and managing "
            "its VPC network interfaces, whose EC2 actions cannot be scoped to a resource.",
        )
    acknowledge(
        function,
        "AwsSolutions-IAM5[Resource::*]",
        "Active tracing: xray:PutTraceSegments and xray:PutTelemetryRecords support no "
        "resource-level permission (Lambda's own X-Ray policy grants them on *).",
    )
    acknowledge(
        function,
        "AwsSolutions-L1",
        "Python 3.12 is pinned on purpose: the dependency layer is built from cp312 wheels "
        "for it. Move the runtime and bundling.PYTHON_VERSION together.",
    )


def _port(url: str | None) -> int | None:
    """The TCP port an URL reaches, or None without one."""
    if url is None:
        return None
    parts = urlsplit(url)
    return parts.port or (443 if parts.scheme == "https" else 80)
