"""The AWS CDK app that deploys cache-service: one construct per concern, composed in stack.py."""
