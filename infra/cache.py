"""The shared cache tier: ElastiCache Serverless (Redis OSS or Valkey), TLS only."""

from __future__ import annotations

from aws_cdk import Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_elasticache as elasticache
from constructs import Construct

#: ElastiCache Serverless serves its primary endpoint on this port (readers use 6380).
REDIS_PORT = 6379
MAJOR_VERSIONS = {"redis": "7", "valkey": "8"}


class SharedCache(Construct):
    """A serverless cache reachable only from ``clients``, on the Redis port, over TLS.

    Serverless caches always require TLS and speak the cluster protocol, so the service is
    configured with ``rediss://`` and cluster mode.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        vpc: ec2.IVpc,
        subnets: ec2.SubnetSelection,
        clients: ec2.ISecurityGroup,
        engine: str,
        max_data_gb: int,
    ) -> None:
        super().__init__(scope, id)
        self.security_group = ec2.SecurityGroup(
            self,
            "SecurityGroup",
            vpc=vpc,
            description="ElastiCache Serverless: the Redis port, from the service function only",
            allow_all_outbound=False,
        )
        # Both sides: ingress here, and egress on the function's group (it allows no other).
        self.security_group.connections.allow_from(
            clients, ec2.Port.tcp(REDIS_PORT), "service function to the cache"
        )
        self.name = name = f"{Stack.of(self).stack_name}-cache".lower()[:40]
        self.cache = elasticache.CfnServerlessCache(
            self,
            "Cache",
            serverless_cache_name=name,
            engine=engine,
            major_engine_version=MAJOR_VERSIONS[engine],
            description="cache-service shared tier",
            # A ceiling on what the cache can store, hence on what it can bill per hour.
            cache_usage_limits=elasticache.CfnServerlessCache.CacheUsageLimitsProperty(
                data_storage=elasticache.CfnServerlessCache.DataStorageProperty(
                    unit="GB", maximum=max_data_gb
                )
            ),
            security_group_ids=[self.security_group.security_group_id],
            subnet_ids=vpc.select_subnets(subnet_type=subnets.subnet_type).subnet_ids,
        )
        self.endpoint = self.cache.attr_endpoint_address
        self.port = self.cache.attr_endpoint_port
        self.url = f"rediss://{self.endpoint}:{self.port}"
