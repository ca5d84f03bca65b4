"""Lambda events in the shapes AWS sends, after ``sam local generate-event`` output.

``apigateway aws-proxy`` (REST API), ``apigateway http-api-proxy`` (HTTP API, payload 2.0)
and a Lambda Function URL request (payload 2.0 on the ``$default`` stage, no stage prefix);
for the warm worker, ``sqs receive-message`` and ``cloudwatch scheduled-event``.
"""

from __future__ import annotations

import base64
import hashlib
import re
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

API_ID = "1234567890"
HOST = f"{API_ID}.execute-api.us-east-1.amazonaws.com"
URL_HOST = "abcdefghijklmnopqrstuvwxyz012345.lambda-url.us-east-1.on.aws"
SOURCE_IP = "203.0.113.7"
USER_AGENT = "cache-cli/0.1"
KINDS = ("rest", "http", "url")


def _body(body: bytes | None, binary: bool) -> tuple[str | None, bool]:
    if body is None:
        return None, False
    if binary:
        return base64.b64encode(body).decode(), True
    return body.decode(), False


def rest_event(
    method: str,
    path: str,
    *,
    stage: str = "prod",
    headers: dict[str, str] | None = None,
    body: bytes | None = None,
    binary: bool = False,
) -> dict[str, Any]:
    """An API Gateway REST API proxy event; ``path`` is without the stage, as AWS sends it."""
    resource, parameters = _resource(path)
    all_headers = {
        "Accept": "application/json",
        "Accept-Encoding": "gzip, deflate, br",
        "CloudFront-Forwarded-Proto": "https",
        "Host": HOST,
        "User-Agent": USER_AGENT,
        "X-Amzn-Trace-Id": "Root=1-5e66d96f-7491f09xmpl79d18acf3d050",
        "X-Forwarded-For": SOURCE_IP,
        "X-Forwarded-Port": "443",
        "X-Forwarded-Proto": "https",
        **(headers or {}),
    }
    text, encoded = _body(body, binary)
    return {
        "body": text,
        "resource": resource,
        "path": path,
        "httpMethod": method,
        "isBase64Encoded": encoded,
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": parameters,
        "stageVariables": None,
        "headers": all_headers,
        "multiValueHeaders": {key: [value] for key, value in all_headers.items()},
        "requestContext": {
            "accountId": "123456789012",
            "resourceId": "123456",
            "stage": stage,
            "requestId": "c6af9ac6-7b61-11e6-9a41-93e8deadbeef",
            "requestTime": "09/Apr/2015:12:34:56 +0000",
            "requestTimeEpoch": 1428582896000,
            "identity": {
                "cognitoIdentityPoolId": None,
                "accountId": None,
                "cognitoIdentityId": None,
                "caller": None,
                "accessKey": None,
                "sourceIp": SOURCE_IP,
                "cognitoAuthenticationType": None,
                "cognitoAuthenticationProvider": None,
                "userArn": None,
                "userAgent": USER_AGENT,
                "user": None,
            },
            "path": f"/{stage}{path}",
            "resourcePath": resource,
            "httpMethod": method,
            "apiId": API_ID,
            "protocol": "HTTP/1.1",
        },
    }


def http_api_event(
    method: str,
    path: str,
    *,
    stage: str = "$default",
    headers: dict[str, str] | None = None,
    body: bytes | None = None,
    binary: bool = False,
    host: str = HOST,
) -> dict[str, Any]:
    """An HTTP API (payload 2.0) event; a named stage appears in ``rawPath``, as AWS sends it."""
    raw_path = path if stage == "$default" else f"/{stage}{path}"
    _, parameters = _resource(path)
    all_headers = {
        "accept": "application/json",
        "accept-encoding": "gzip, deflate, br",
        "host": host,
        "user-agent": USER_AGENT,
        "x-amzn-trace-id": "Root=1-5e66d96f-7491f09xmpl79d18acf3d050",
        "x-forwarded-for": SOURCE_IP,
        "x-forwarded-port": "443",
        "x-forwarded-proto": "https",
        **{key.lower(): value for key, value in (headers or {}).items()},
    }
    text, encoded = _body(body, binary)
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": raw_path,
        "rawQueryString": "",
        "headers": all_headers,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": API_ID,
            "domainName": host,
            "domainPrefix": host.split(".")[0],
            "http": {
                "method": method,
                "path": raw_path,
                "protocol": "HTTP/1.1",
                "sourceIp": SOURCE_IP,
                "userAgent": USER_AGENT,
            },
            "requestId": "c6af9ac6-7b61-11e6-9a41-93e8deadbeef",
            "routeKey": "$default",
            "stage": stage,
            "time": "12/Mar/2020:19:03:58 +0000",
            "timeEpoch": 1583348638390,
        },
        "isBase64Encoded": encoded,
    }
    if parameters:
        event["pathParameters"] = parameters
    if text is not None:
        event["body"] = text
    return event


def function_url_event(
    method: str,
    path: str,
    *,
    headers: dict[str, str] | None = None,
    body: bytes | None = None,
    binary: bool = False,
) -> dict[str, Any]:
    """A Lambda Function URL event: payload 2.0, ``$default`` stage, an anonymous account."""
    event = http_api_event(method, path, headers=headers, body=body, binary=binary, host=URL_HOST)
    event["requestContext"]["accountId"] = "anonymous"
    event["requestContext"]["apiId"] = URL_HOST.split(".")[0]
    event.pop("pathParameters", None)  # Function URLs have no routes, hence no parameters
    return event


def event_for(
    kind: str,
    method: str,
    path: str,
    *,
    headers: dict[str, str] | None = None,
    body: bytes | None = None,
    binary: bool = False,
) -> dict[str, Any]:
    """An event of ``kind`` ("rest" on stage prod, "http" on stage prod, or "url")."""
    if kind == "rest":
        return rest_event(method, path, headers=headers, body=body, binary=binary)
    if kind == "http":
        return http_api_event(method, path, stage="prod", headers=headers, body=body, binary=binary)
    return function_url_event(method, path, headers=headers, body=body, binary=binary)


def prefix_for(kind: str) -> str:
    """The path prefix a client of ``kind`` puts in front of the app's routes."""
    return "" if kind == "url" else "/prod"


def _resource(path: str) -> tuple[str, dict[str, str] | None]:
    match = re.fullmatch(r"/payload/([^/]+)", path)
    if match:
        return "/payload/{id}", {"id": match.group(1)}
    return path, None


QUEUE_ARN = "arn:aws:sqs:us-east-1:123456789012:cache-service-warm"
RULE_ARN = "arn:aws:events:us-east-1:123456789012:rule/cache-service-warm-hot"


def sqs_record(
    body: str, *, message_id: str | None = None, receipt_handle: str | None = None
) -> dict[str, Any]:
    """One record of an SQS event source mapping's batch."""
    return {
        "messageId": message_id or str(uuid.uuid4()),
        "receiptHandle": receipt_handle or f"AQEB{uuid.uuid4().hex}",
        "body": body,
        "attributes": {
            "ApproximateReceiveCount": "1",
            "SentTimestamp": "1523232000000",
            "SenderId": "123456789012",
            "ApproximateFirstReceiveTimestamp": "1523232000001",
        },
        "messageAttributes": {},
        "md5OfBody": hashlib.md5(body.encode()).hexdigest(),
        "eventSource": "aws:sqs",
        "eventSourceARN": QUEUE_ARN,
        "awsRegion": "us-east-1",
    }


def sqs_event(bodies: Iterable[str]) -> dict[str, Any]:
    """An SQS batch with one message per body."""
    return {"Records": [sqs_record(body) for body in bodies]}


def sqs_event_of(messages: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """The batch Lambda would make of messages ``ReceiveMessage`` returned."""
    return {
        "Records": [
            sqs_record(m["Body"], message_id=m["MessageId"], receipt_handle=m["ReceiptHandle"])
            for m in messages
        ]
    }


def scheduled_event() -> dict[str, Any]:
    """What an EventBridge schedule sends its target."""
    return {
        "version": "0",
        "id": "cdc73f9d-aea9-11e3-9d5a-835b769c0d9c",
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "123456789012",
        "time": "1970-01-01T00:00:00Z",
        "region": "us-east-1",
        "resources": [RULE_ARN],
        "detail": {},
    }
