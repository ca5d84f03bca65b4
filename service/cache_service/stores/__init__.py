"""Durable stores: the port (values and claims), memory, SQLite and DynamoDB."""
