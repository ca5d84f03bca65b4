"""The network: private subnets in two AZs, no NAT by default, a free DynamoDB gateway endpoint."""

from __future__ import annotations

from aws_cdk import aws_ec2 as ec2
from constructs import Construct


class Network(Construct):
    """A VPC whose private subnets reach DynamoDB through a gateway endpoint.

    By default no NAT gateway: it bills by the hour, and nothing here calls the internet, so the
    subnets are isolated. ``nat_gateways`` > 0 (for an HTTP transformer outside AWS) adds public
    subnets with the NAT gateways and makes the private subnets route out through them.
    """

    def __init__(self, scope: Construct, id: str, *, nat_gateways: int = 0) -> None:
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
        self.vpc.add_flow_log("FlowLog", traffic_type=ec2.FlowLogTrafficType.REJECT)
        self.subnets = ec2.SubnetSelection(subnet_type=private)
