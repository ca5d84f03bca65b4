"""Lambda events in the shapes AWS sends, after ``sam local generate-event`` output.

``apigateway aws-proxy`` (REST API), ``apigateway http-api-proxy`` (HTTP API, payload 2.0)
and a Lambda Function URL request (payload 2.0 on the ``$default`` stage, no stage prefix).
"""

from __future__ import annotations

import base64
import re
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
