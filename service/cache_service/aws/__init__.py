"""AWS Lambda: the handler (API Gateway and Function URL events) and its observability."""
