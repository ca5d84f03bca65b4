"""DynamoDB as the durable store: the adapter, how values sit in items, the table."""
