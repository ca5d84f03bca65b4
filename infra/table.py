"""The durable store: a DynamoDB table keyed by payload id."""

from __future__ import annotations

from aws_cdk import aws_dynamodb as dynamodb
from constructs import Construct

# The table's shape is the service's: `cache-service create-table` makes the same one.
from cache_service.stores.dynamodb.table import PARTITION_KEY, TTL_ATTRIBUTE
from infra.config import removal


class PayloadTable(Construct):
    """On-demand, point-in-time recovery, KMS-encrypted, TTL on; kept unless retain_data=false."""

    def __init__(self, scope: Construct, id: str, *, retain: bool) -> None:
        super().__init__(scope, id)
        self.table = dynamodb.Table(
            self,
            "Table",
            partition_key=dynamodb.Attribute(
                name=PARTITION_KEY, type=dynamodb.AttributeType.STRING
            ),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            encryption=dynamodb.TableEncryption.AWS_MANAGED,
            time_to_live_attribute=TTL_ATTRIBUTE,
            # Computed results are the product; losing them with a stack is never the default.
            removal_policy=removal(retain),
        )
