"""The DynamoDB table's shape, defined once for the CDK stack and ``cache-service create-table``."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient

PARTITION_KEY = "pk"
#: The attribute holding an expiry (epoch seconds); DynamoDB's TTL deletes items past it.
TTL_ATTRIBUTE = "expires_at"


def create_table(client: DynamoDBClient, name: str) -> bool:
    """Create the table as the stack does (string key, on demand, TTL); false if it existed.

    Blocking: call it from a worker thread.
    """
    try:
        client.create_table(
            TableName=name,
            KeySchema=[{"AttributeName": PARTITION_KEY, "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": PARTITION_KEY, "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
    except client.exceptions.ResourceInUseException:
        return False
    client.get_waiter("table_exists").wait(
        TableName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 60}
    )
    client.update_time_to_live(
        TableName=name,
        TimeToLiveSpecification={"Enabled": True, "AttributeName": TTL_ATTRIBUTE},
    )
    return True
