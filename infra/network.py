"""The network: private subnets in two AZs, no NAT by default, a free DynamoDB gateway endpoint."""

from __future__ import annotations

from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_logs as logs
from constructs import Construct

from infra.config import removal
from infra.prefix_list import ManagedPrefixList

HTTPS = ec2.Port.tcp(443)


class Network(Construct):
    """A VPC whose private subnets reach DynamoDB through a gateway endpoint, and X-Ray.

    By default no NAT gateway: it bills by the hour, and nothing here calls the internet, so the
    subnets are isolated. ``nat_gateways`` > 0 (for an HTTP transformer outside AWS) adds public
    subnets with the NAT gateways and makes the private subnets route out through them.

    X-Ray's daemon in the function sends traces to X-Ray's regional API; from subnets without a
    route out that needs an interface endpoint (``xray_endpoint``), or the function's own
    subsegments are lost. Logs and CloudWatch metrics (EMF) leave through Lambda's log stream,
    not the VPC, and need nothing here.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        nat_gateways: int,
        xray_endpoint: bool,
        log_retention: logs.RetentionDays,
        retain: bool,
    ) -> None:
        super().__init__(scope, id)
        private = (
            ec2.SubnetType.PRIVATE_WITH_EGRESS if nat_gateways else ec2.SubnetType.PRIVATE_ISOLATED
        )
        subnets = [
            ec2.SubnetConfiguration(
                name="egress" if nat_gateways else "isolated", subnet_type=private, cidr_mask=24
            )
        ]
        if nat_gateways:
            subnets.append(
                ec2.SubnetConfiguration(
                    name="public", subnet_type=ec2.SubnetType.PUBLIC, cidr_mask=24
                )
            )
        self.vpc = ec2.Vpc(
            self,
            "Vpc",
            max_azs=2,
            nat_gateways=nat_gateways,
            subnet_configuration=subnets,
            gateway_endpoints={
                "DynamoDb": ec2.GatewayVpcEndpointOptions(
                    service=ec2.GatewayVpcEndpointAwsService.DYNAMODB
                )
            },
        )
        self.subnets = ec2.SubnetSelection(subnet_type=private)
        flow_logs = logs.LogGroup(
            self, "FlowLogs", retention=log_retention, removal_policy=removal(retain)
        )
        self.vpc.add_flow_log(
            "FlowLog",
            destination=ec2.FlowLogDestination.to_cloud_watch_logs(flow_logs),
            traffic_type=ec2.FlowLogTrafficType.REJECT,
        )
        self.dynamodb = ManagedPrefixList(
            self,
            "DynamoDbPrefixList",
            service="dynamodb",
            log_retention=log_retention,
            retain=retain,
        )
        self.xray: ec2.InterfaceVpcEndpoint | None = None
        if xray_endpoint:
            self.xray = self.vpc.add_interface_endpoint(
                "XRay",
                service=ec2.InterfaceVpcEndpointAwsService.XRAY,
                subnets=self.subnets,
                private_dns_enabled=True,
                # No ingress from the whole VPC: ``admit`` opens it to one group at a time.
                open=False,
                security_groups=[
                    ec2.SecurityGroup(
                        self,
                        "XRaySecurityGroup",
                        vpc=self.vpc,
                        description="X-Ray endpoint: HTTPS from the service function only",
                        allow_all_outbound=False,
                    )
                ],
            )

    def admit(self, group: ec2.SecurityGroup) -> None:
        """Let ``group`` send HTTPS to DynamoDB's prefix list and the X-Ray endpoint, no further."""
        group.add_egress_rule(
            self.dynamodb.peer, HTTPS, "DynamoDB through the gateway endpoint (its prefix list)"
        )
        if self.xray is not None:
            self.xray.connections.allow_default_port_from(group, "X-Ray traces")
