"""DynamoDB as the durable store on AWS: one table, partition key ``pk``, boto3 off the loop.

boto3 blocks, so every call runs on a small thread pool owned by the store; botocore's
"standard" retry mode gives bounded retries with jittered backoff on throttling, and an
asyncio bound on each call keeps a hung endpoint from holding a request past
``CACHE_STORE_TIMEOUT_S``.

An item is at most 400 KB, and an output may be larger (a 1 MiB body gives about 1 MiB of
output), so a large value is zlib-compressed and split over part items named by the value's
digest; the head item, written last and conditionally, is what makes it exist.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
import threading
import time
import zlib
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, TypeVar

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from ..errors import StoreUnavailable
from .ports import PutResult

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient

T = TypeVar("T")

TTL_ATTRIBUTE = "expires_at"
#: Every API action the running service calls (``create_table`` is a local-only command).
#: The CDK stack grants exactly these; a test records the calls a whole workload makes.
ITEM_ACTIONS = (
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:BatchGetItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
)
# The largest value kept inline; item attributes and names must fit beside it in 400 KB.
INLINE_BYTES = 300_000
PART_BYTES = 300_000
BATCH_KEYS = 100  # BatchGetItem's limit per call.
_UNPROCESSED_ATTEMPTS = 8
_LEASE_PREFIX = "lease#"
_NAMES = {"#v": "value", "#p": "parts", "#d": "digest"}
_PING_KEY: dict[str, Any] = {"pk": {"S": "ping#"}}


class DynamoDbStore:
    """``DurableStore`` and ``LeaseBackend`` on one DynamoDB table."""

    name = "dynamodb"

    def __init__(
        self,
        table: str,
        *,
        timeout_s: float,
        retry_after_s: int,
        ttl_s: int = 0,
        recorded_by: str = "",
        max_workers: int = 16,
    ) -> None:
        self._table = table
        self._timeout_s = timeout_s
        self._retry_after_s = retry_after_s
        self._ttl_s = ttl_s
        self._recorded_by = recorded_by
        self._executor = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="ddb")
        self._max_workers = max_workers
        self._client: DynamoDBClient | None = None
        self._client_lock = threading.Lock()

    # -- plumbing ---------------------------------------------------------------------------

    def _dynamodb(self) -> DynamoDBClient:
        """The client, made on first use in a worker thread (it reads files and environment)."""
        with self._client_lock:
            if self._client is None:
                config = Config(
                    connect_timeout=min(2.0, self._timeout_s),
                    read_timeout=self._timeout_s,
                    retries={"mode": "standard", "max_attempts": 3},
                    max_pool_connections=self._max_workers,
                )
                self._client = boto3.session.Session().client("dynamodb", config=config)
            return self._client

    async def _run(self, work: Callable[[DynamoDBClient], T]) -> T:
        loop = asyncio.get_running_loop()
        call = loop.run_in_executor(self._executor, lambda: work(self._dynamodb()))
        try:
            return await asyncio.wait_for(call, self._timeout_s)
        except TimeoutError as exc:
            raise self._unavailable(f"did not answer within {self._timeout_s}s") from exc
        except ClientError as exc:
            error = exc.response.get("Error", {})
            if error.get("Code") == "ResourceNotFoundException":
                raise self._unavailable(
                    "does not exist (create it with `cache-service create-table`)"
                ) from exc
            raise self._unavailable(f"failed: {error.get('Code')}: {error.get('Message')}") from exc
        except BotoCoreError as exc:
            raise self._unavailable(f"failed: {exc}") from exc

    def _unavailable(self, what: str) -> StoreUnavailable:
        return StoreUnavailable(f"DynamoDB table {self._table} {what}", self._retry_after_s)

    # -- DurableStore -----------------------------------------------------------------------

    async def get_many(self, keys: Sequence[str], *, consistent: bool = False) -> dict[str, str]:
        if not keys:
            return {}
        if len(keys) == 1:
            return await self._run(lambda client: self._get_one(client, keys[0], consistent))
        return await self._run(lambda client: self._get_batch(client, keys, consistent))

    async def put_if_absent(self, items: Mapping[str, str]) -> PutResult:
        if not items:
            return PutResult(stored={}, created=frozenset())

        def put(key: str, value: str) -> Callable[[DynamoDBClient], tuple[str, str, bool]]:
            return lambda client: self._put_one(client, key, value)

        results = await asyncio.gather(*(self._run(put(k, v)) for k, v in items.items()))
        stored = {key: value for key, value, _ in results}
        created = frozenset(key for key, _, made in results if made)
        return PutResult(stored=stored, created=created)

    async def ping(self) -> None:
        # An item read, not DescribeTable: the function's role may only touch items.
        await self._run(lambda client: client.get_item(TableName=self._table, Key=_PING_KEY))

    async def aclose(self) -> None:
        self._executor.shutdown(wait=False)
        with self._client_lock:
            client, self._client = self._client, None
        if client is not None:
            client.close()

    # -- LeaseBackend -----------------------------------------------------------------------

    async def acquire_lease(self, key: str, token: str, ttl_s: float) -> bool:
        def acquire(client: DynamoDBClient) -> bool:
            now_ms = int(time.time() * 1000)
            try:
                client.put_item(
                    TableName=self._table,
                    Item={
                        "pk": {"S": _LEASE_PREFIX + key},
                        "token": {"S": token},
                        "lease_until": {"N": str(now_ms + int(ttl_s * 1000))},
                        # Lets DynamoDB's TTL sweep leases that crashed holders left behind.
                        TTL_ATTRIBUTE: {"N": str(now_ms // 1000 + int(ttl_s) + 3600)},
                    },
                    ConditionExpression="attribute_not_exists(pk) OR lease_until <= :now",
                    ExpressionAttributeValues={":now": {"N": str(now_ms)}},
                )
            except ClientError as exc:
                if _conditional_failed(exc):
                    return False
                raise
            return True

        return await self._run(acquire)

    async def renew_lease(self, key: str, token: str, ttl_s: float) -> bool:
        def renew(client: DynamoDBClient) -> bool:
            now_ms = int(time.time() * 1000)
            try:
                client.update_item(
                    TableName=self._table,
                    Key={"pk": {"S": _LEASE_PREFIX + key}},
                    UpdateExpression="SET lease_until = :until",
                    ConditionExpression="#t = :token",
                    ExpressionAttributeNames={"#t": "token"},
                    ExpressionAttributeValues={
                        ":until": {"N": str(now_ms + int(ttl_s * 1000))},
                        ":token": {"S": token},
                    },
                )
            except ClientError as exc:
                if _conditional_failed(exc):
                    return False
                raise
            return True

        return await self._run(renew)

    async def release_lease(self, key: str, token: str) -> None:
        def release(client: DynamoDBClient) -> None:
            try:
                client.delete_item(
                    TableName=self._table,
                    Key={"pk": {"S": _LEASE_PREFIX + key}},
                    ConditionExpression="#t = :token",
                    ExpressionAttributeNames={"#t": "token"},
                    ExpressionAttributeValues={":token": {"S": token}},
                )
            except ClientError as exc:
                if not _conditional_failed(exc):
                    raise

        await self._run(release)

    # -- operations -------------------------------------------------------------------------

    async def create_table(self) -> bool:
        """Create the table as the CDK stack does (on-demand, TTL); false if it existed."""

        def create(client: DynamoDBClient) -> bool:
            try:
                client.create_table(
                    TableName=self._table,
                    KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                    AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                    BillingMode="PAY_PER_REQUEST",
                )
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") != "ResourceInUseException":
                    raise
                return False
            client.get_waiter("table_exists").wait(
                TableName=self._table, WaiterConfig={"Delay": 1, "MaxAttempts": 60}
            )
            client.update_time_to_live(
                TableName=self._table,
                TimeToLiveSpecification={"Enabled": True, "AttributeName": TTL_ATTRIBUTE},
            )
            return True

        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, lambda: create(self._dynamodb()))

    # -- blocking helpers (worker threads only) ----------------------------------------------

    def _get_one(self, client: DynamoDBClient, key: str, consistent: bool) -> dict[str, str]:
        reply = client.get_item(
            TableName=self._table,
            Key={"pk": {"S": key}},
            ConsistentRead=consistent,
            ProjectionExpression="pk, #v, #p, #d",
            ExpressionAttributeNames=_NAMES,
        )
        item = reply.get("Item")
        if item is None:
            return {}
        return self._decode(client, [item], consistent)

    def _get_batch(
        self, client: DynamoDBClient, keys: Sequence[str], consistent: bool
    ) -> dict[str, str]:
        unique = list(dict.fromkeys(keys))
        items: list[dict[str, Any]] = []
        for start in range(0, len(unique), BATCH_KEYS):
            chunk = unique[start : start + BATCH_KEYS]
            request: dict[str, Any] = {
                self._table: {
                    "Keys": [{"pk": {"S": key}} for key in chunk],
                    "ConsistentRead": consistent,
                    "ProjectionExpression": "pk, #v, #p, #d",
                    "ExpressionAttributeNames": _NAMES,
                }
            }
            items.extend(self._batch_get(client, request))
        return self._decode(client, items, consistent)

    def _batch_get(self, client: DynamoDBClient, request: dict[str, Any]) -> list[dict[str, Any]]:
        """Every item of one BatchGetItem, retrying UnprocessedKeys with jittered backoff."""
        items: list[dict[str, Any]] = []
        for attempt in range(_UNPROCESSED_ATTEMPTS):
            reply = client.batch_get_item(RequestItems=request)
            items.extend(reply.get("Responses", {}).get(self._table, []))
            request = dict(reply.get("UnprocessedKeys") or {})
            if not request:
                return items
            time.sleep(random.uniform(0, min(1.0, 0.05 * 2**attempt)))  # noqa: S311
        raise self._unavailable("kept returning unprocessed keys (throttled)")

    def _decode(
        self, client: DynamoDBClient, items: Sequence[Mapping[str, Any]], consistent: bool
    ) -> dict[str, str]:
        found: dict[str, str] = {}
        split: dict[str, tuple[str, int]] = {}
        for item in items:
            key = item["pk"]["S"]
            if "value" in item:
                found[key] = item["value"]["S"]
            elif "parts" in item:
                split[key] = (item["digest"]["S"], int(item["parts"]["N"]))
        if split:
            names = [_part_key(d, i) for d, n in split.values() for i in range(n)]
            parts: dict[str, bytes] = {}
            for start in range(0, len(names), BATCH_KEYS):
                request: dict[str, Any] = {
                    self._table: {
                        "Keys": [{"pk": {"S": name}} for name in names[start : start + BATCH_KEYS]],
                        "ConsistentRead": consistent,
                    }
                }
                for item in self._batch_get(client, request):
                    parts[item["pk"]["S"]] = item["chunk"]["B"]
            for key, (digest, count) in split.items():
                packed = b"".join(parts[_part_key(digest, i)] for i in range(count))
                found[key] = zlib.decompress(packed).decode()
        return found

    def _put_one(self, client: DynamoDBClient, key: str, value: str) -> tuple[str, str, bool]:
        now = time.time()
        head: dict[str, Any] = {
            "pk": {"S": key},
            "created_at": {"N": f"{now:.3f}"},
            "transformer": {"S": self._recorded_by},
        }
        if self._ttl_s:
            head[TTL_ATTRIBUTE] = {"N": str(int(now) + self._ttl_s)}
        encoded = value.encode()
        if len(encoded) <= INLINE_BYTES:
            head["value"] = {"S": value}
        else:
            packed = zlib.compress(encoded)
            digest = hashlib.sha256(packed).hexdigest()
            chunks = [packed[i : i + PART_BYTES] for i in range(0, len(packed), PART_BYTES)]
            # Parts first, named by content: rewriting them is harmless, and the head that
            # points at them is only written once they all exist.
            for index, chunk in enumerate(chunks):
                part: dict[str, Any] = {
                    "pk": {"S": _part_key(digest, index)},
                    "chunk": {"B": chunk},
                }
                if TTL_ATTRIBUTE in head:
                    part[TTL_ATTRIBUTE] = head[TTL_ATTRIBUTE]
                client.put_item(TableName=self._table, Item=part)
            head["parts"] = {"N": str(len(chunks))}
            head["digest"] = {"S": digest}
        for _ in range(3):
            try:
                client.put_item(
                    TableName=self._table,
                    Item=head,
                    ConditionExpression="attribute_not_exists(pk)",
                )
            except ClientError as exc:
                if not _conditional_failed(exc):
                    raise
                existing = self._get_one(client, key, consistent=True)
                if key in existing:
                    return key, existing[key], False
                continue  # Expired (TTL) between our write and our read: try ours again.
            return key, value, True
        raise self._unavailable(f"kept refusing and losing {key}")


def _part_key(digest: str, index: int) -> str:
    return f"part#{digest}#{index}"


def _conditional_failed(exc: ClientError) -> bool:
    return exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"
