"""DynamoDB as the durable store on AWS: one table, an item per unit of work, boto3 off the loop.

An item is either a claim (``token``, ``claimed_until``) or a completed value (see
``dynamodb_codec``). Claiming is one conditional PutItem per key, completing one conditional
UpdateItem: two write requests per unit of work on a miss, the least that can both exclude
other writers and record the result. A refused write returns the item that refused it
(``ReturnValuesOnConditionCheckFailure``), so no read follows it.

boto3 blocks, so every call runs on a small thread pool owned by the store. The caller's
deadline travels into the thread, and botocore's own timeouts and retries fit inside it, so an
abandoned call neither takes effect late nor keeps a pool thread from the calls behind it.
"""

from __future__ import annotations

import asyncio
import logging
import random
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar, cast

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as EndpointUnreachable

from ...coordination.claims import ClaimResult, Completion
from ...errors import StoreUnavailable
from ..bounded_executor import BoundedExecutor, DeadlinePassed, check
from . import codec
from .table import PARTITION_KEY, TTL_ATTRIBUTE, create_table

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient

T = TypeVar("T")

#: Every API action the running service calls (``create_table`` is a local-only command).
#: The CDK stack grants exactly these; a test records the calls a whole workload makes.
ITEM_ACTIONS = (
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:BatchGetItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
)
BATCH_KEYS = 100  # BatchGetItem's limit per call.
_ATTEMPTS = 3
_UNPROCESSED_ATTEMPTS = 8
# A claim nobody completes or releases (its holder crashed) is swept by TTL this much later.
_CLAIM_SWEEP_S = 3600
_NAMES = {"#v": codec.VALUE, "#p": codec.PARTS, "#d": codec.DIGEST}
_NOT_COMPLETED = "attribute_not_exists(#v) AND attribute_not_exists(#p)"
_PING_KEY: dict[str, Any] = {PARTITION_KEY: {"S": "ping#"}}

log = logging.getLogger(__name__)


class DynamoDbStore:
    """``DurableStore`` (values and claims) on one DynamoDB table."""

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
        client: Callable[[], DynamoDBClient] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """``client`` makes the DynamoDB client (default: boto3's, with bounded timeouts);
        tests give one that answers as DynamoDB does where moto cannot (throttling).
        ``clock`` is the wall clock that claims and TTLs are written by."""
        self._table = table
        self._clock = clock
        self._make_client = client or self._boto3_client
        self._timeout_s = timeout_s
        self._retry_after_s = retry_after_s
        self._ttl_s = ttl_s
        self._recorded_by = recorded_by
        self._calls = BoundedExecutor(
            timeout_s=timeout_s, max_workers=max_workers, thread_name_prefix="ddb"
        )
        self._max_workers = max_workers
        self._client: DynamoDBClient | None = None
        self._client_lock = threading.Lock()

    # -- plumbing ---------------------------------------------------------------------------

    def _dynamodb(self) -> DynamoDBClient:
        """The client, made on first use in a worker thread (it reads files and environment)."""
        with self._client_lock:
            if self._client is None:
                self._client = self._make_client()
            return self._client

    def _boto3_client(self) -> DynamoDBClient:
        # Retries are ours (``_run``): botocore's back off for up to seconds between attempts,
        # far past a call's bound, on the threads of calls given up on.
        per_attempt = self._timeout_s / (_ATTEMPTS + 1)
        config = Config(
            connect_timeout=min(1.0, per_attempt),
            read_timeout=per_attempt,
            retries={"mode": "standard", "max_attempts": 1},
            max_pool_connections=self._max_workers,
        )
        return boto3.session.Session().client("dynamodb", config=config)

    async def _run(self, work: Callable[[DynamoDBClient, float], T]) -> T:
        def bounded(deadline: float) -> T:
            for attempt in range(_ATTEMPTS):
                check(deadline)
                try:
                    return work(self._dynamodb(), deadline)
                except (ClientError, BotoCoreError) as exc:
                    pause = random.uniform(0, 0.05 * 2**attempt)  # noqa: S311
                    if not _transient(exc) or time.monotonic() + pause >= deadline:
                        raise
                    if attempt == _ATTEMPTS - 1:
                        raise
                    time.sleep(pause)
            raise DeadlinePassed  # Not reached: the last attempt returns or raises.

        try:
            return await self._calls.run(bounded)
        except DeadlinePassed as exc:
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
        except codec.DamagedValue as exc:
            log.error("DynamoDB table %s holds a damaged value: %s", self._table, exc)
            raise self._unavailable("holds a damaged value (see the log)") from exc

    def _unavailable(self, what: str) -> StoreUnavailable:
        return StoreUnavailable(f"DynamoDB table {self._table} {what}", self._retry_after_s)

    async def _each(
        self, keys: Sequence[str], work: Callable[[DynamoDBClient, float, str], T]
    ) -> list[T]:
        """``work`` for every key at once, one pool thread each."""

        def one(key: str) -> Callable[[DynamoDBClient, float], T]:
            return lambda client, deadline: work(client, deadline, key)

        return await asyncio.gather(*(self._run(one(key)) for key in keys))

    # -- DurableStore -----------------------------------------------------------------------

    async def get_many(self, keys: Sequence[str], *, consistent: bool = False) -> dict[str, str]:
        if not keys:
            return {}
        if len(keys) == 1:
            return await self._run(lambda c, d: self._get_one(c, d, keys[0], consistent))
        return await self._run(lambda c, d: self._get_batch(c, d, keys, consistent))

    async def claim(self, keys: Sequence[str], token: str, ttl_s: float) -> ClaimResult:
        if not keys:
            return ClaimResult({}, frozenset(), frozenset())

        def claim(client: DynamoDBClient, deadline: float, key: str) -> tuple[str, object]:
            now_ms = int(self._clock() * 1000)
            try:
                client.put_item(
                    TableName=self._table,
                    Item={
                        PARTITION_KEY: {"S": key},
                        "token": {"S": token},
                        "claimed_until": {"N": str(now_ms + int(ttl_s * 1000))},
                        TTL_ATTRIBUTE: {"N": str(now_ms // 1000 + int(ttl_s) + _CLAIM_SWEEP_S)},
                    },
                    ConditionExpression=(
                        f"attribute_not_exists({PARTITION_KEY}) "
                        f"OR ({_NOT_COMPLETED} AND claimed_until <= :now)"
                    ),
                    ExpressionAttributeNames={"#v": codec.VALUE, "#p": codec.PARTS},
                    ExpressionAttributeValues={":now": {"N": str(now_ms)}},
                    ReturnValuesOnConditionCheckFailure="ALL_OLD",
                )
            except ClientError as exc:
                if not _conditional_failed(exc):
                    raise
                item = _refusing_item(exc)
                if item and codec.is_completed(item):
                    return key, self._decode(client, deadline, [item])[key]
                if item.get("token", {}).get("S") == token:
                    return key, True  # Our own claim: a retry whose first answer was lost.
                return key, None
            return key, True

        completed: dict[str, str] = {}
        claimed: set[str] = set()
        held: set[str] = set()
        for key, outcome in await self._each(keys, claim):
            if outcome is True:
                claimed.add(key)
            elif isinstance(outcome, str):
                completed[key] = outcome
            else:
                held.add(key)
        return ClaimResult(completed, frozenset(claimed), frozenset(held))

    async def renew(self, keys: Sequence[str], token: str, ttl_s: float) -> None:
        def renew(client: DynamoDBClient, deadline: float, key: str) -> None:
            now_ms = int(self._clock() * 1000)
            try:
                client.update_item(
                    TableName=self._table,
                    Key={PARTITION_KEY: {"S": key}},
                    UpdateExpression="SET claimed_until = :until",
                    ConditionExpression=f"#t = :token AND {_NOT_COMPLETED}",
                    ExpressionAttributeNames={"#t": "token", "#v": codec.VALUE, "#p": codec.PARTS},
                    ExpressionAttributeValues={
                        ":until": {"N": str(now_ms + int(ttl_s * 1000))},
                        ":token": {"S": token},
                    },
                )
            except ClientError as exc:
                if not _conditional_failed(exc):
                    raise

        await self._each(keys, renew)

    async def complete(
        self, items: Mapping[str, str], token: str, *, flush: bool = True
    ) -> Completion:
        # Every DynamoDB write is durable once acknowledged; ``flush`` changes nothing here.
        def complete(client: DynamoDBClient, deadline: float, key: str) -> tuple[str, str, bool]:
            return self._complete_one(client, deadline, key, items[key])

        results = await self._each(list(items), complete)
        return Completion(
            stored={key: value for key, value, _ in results},
            created=frozenset(key for key, _, made in results if made),
        )

    async def release(self, keys: Sequence[str], token: str) -> None:
        def release(client: DynamoDBClient, deadline: float, key: str) -> None:
            try:
                client.delete_item(
                    TableName=self._table,
                    Key={PARTITION_KEY: {"S": key}},
                    ConditionExpression=f"#t = :token AND {_NOT_COMPLETED}",
                    ExpressionAttributeNames={"#t": "token", "#v": codec.VALUE, "#p": codec.PARTS},
                    ExpressionAttributeValues={":token": {"S": token}},
                )
            except ClientError as exc:
                if not _conditional_failed(exc):
                    raise

        await self._each(keys, release)

    async def ping(self) -> None:
        """A write and a read of one ping item: a table that reads but refuses writes (the
        role lost a write action, writes throttled) must not be reported ready.

        Items, not DescribeTable, because the function's role may only touch items. The
        write costs one write request per check; see INSTRUCTIONS.md for why it is worth it.
        """

        def probe(client: DynamoDBClient, deadline: float) -> None:
            client.put_item(
                TableName=self._table,
                Item={**_PING_KEY, "checked_at": {"N": str(int(self._clock()))}},
            )
            check(deadline)
            client.get_item(TableName=self._table, Key=_PING_KEY)

        await self._run(probe)

    async def aclose(self) -> None:
        self._calls.shutdown()
        with self._client_lock:
            client, self._client = self._client, None
        if client is not None:
            client.close()

    # -- operations -------------------------------------------------------------------------

    async def create_table(self) -> bool:
        """Create the table as the CDK stack does; false if it existed."""
        return await self._calls.run_unbounded(lambda: create_table(self._dynamodb(), self._table))

    # -- blocking helpers (worker threads only) ----------------------------------------------

    def _get_one(
        self, client: DynamoDBClient, deadline: float, key: str, consistent: bool
    ) -> dict[str, str]:
        reply = client.get_item(
            TableName=self._table,
            Key={PARTITION_KEY: {"S": key}},
            ConsistentRead=consistent,
            ProjectionExpression=f"{PARTITION_KEY}, #v, #p, #d",
            ExpressionAttributeNames=_NAMES,
        )
        item = reply.get("Item")
        if item is None:
            return {}
        return self._decode(client, deadline, [item])

    def _get_batch(
        self, client: DynamoDBClient, deadline: float, keys: Sequence[str], consistent: bool
    ) -> dict[str, str]:
        items = self._get_items(
            client,
            deadline,
            list(dict.fromkeys(keys)),
            consistent=consistent,
            projection={
                "ProjectionExpression": f"{PARTITION_KEY}, #v, #p, #d",
                "ExpressionAttributeNames": _NAMES,
            },
        )
        return self._decode(client, deadline, items)

    def _get_items(
        self,
        client: DynamoDBClient,
        deadline: float,
        keys: list[str],
        *,
        consistent: bool,
        projection: Mapping[str, Any],
    ) -> list[dict[str, Any]]:
        """The items of ``keys`` (no duplicates), in BatchGetItem calls of ``BATCH_KEYS``."""
        items: list[dict[str, Any]] = []
        for start in range(0, len(keys), BATCH_KEYS):
            request: dict[str, Any] = {
                self._table: {
                    "Keys": [{PARTITION_KEY: {"S": k}} for k in keys[start : start + BATCH_KEYS]],
                    "ConsistentRead": consistent,
                    **projection,
                }
            }
            items.extend(self._batch_get(client, deadline, request))
        return items

    def _batch_get(
        self, client: DynamoDBClient, deadline: float, request: dict[str, Any]
    ) -> list[dict[str, Any]]:
        """Every item of one BatchGetItem, retrying UnprocessedKeys with jittered backoff."""
        items: list[dict[str, Any]] = []
        for attempt in range(_UNPROCESSED_ATTEMPTS):
            check(deadline)
            reply = client.batch_get_item(RequestItems=request)
            items.extend(reply.get("Responses", {}).get(self._table, []))
            request = dict(reply.get("UnprocessedKeys") or {})
            if not request:
                return items
            pause = random.uniform(0, min(1.0, 0.05 * 2**attempt))  # noqa: S311
            time.sleep(min(pause, max(0.0, deadline - time.monotonic())))
        raise self._unavailable("kept returning unprocessed keys (throttled)")

    def _decode(
        self, client: DynamoDBClient, deadline: float, items: Sequence[Mapping[str, Any]]
    ) -> dict[str, str]:
        def read_parts(names: list[str]) -> dict[str, bytes]:
            # Always consistent: a head is written after its parts, and a read of the head
            # must not be followed by an older view without them.
            parts = self._get_items(client, deadline, names, consistent=True, projection={})
            return {item[PARTITION_KEY]["S"]: item["chunk"]["B"] for item in parts}

        return codec.decode(items, read_parts)

    def _complete_one(
        self, client: DynamoDBClient, deadline: float, key: str, value: str
    ) -> tuple[str, str, bool]:
        now = self._clock()
        attributes, parts = codec.encode(value)
        for part in parts:
            # Named by content: writing one twice is harmless, and the head that points at
            # them is only completed once they all exist.
            check(deadline)
            if self._ttl_s:
                part[TTL_ATTRIBUTE] = {"N": str(int(now) + self._ttl_s)}
            client.put_item(TableName=self._table, Item=part)
        assignments = {
            **attributes,
            "created_at": {"N": f"{now:.3f}"},
            "transformer": {"S": self._recorded_by},
        }
        if self._ttl_s:
            assignments[TTL_ATTRIBUTE] = {"N": str(int(now) + self._ttl_s)}
        names = {f"#a{i}": name for i, name in enumerate(assignments)}
        values = {f":a{i}": value for i, value in enumerate(assignments.values())}
        update = "SET " + ", ".join(f"#a{i} = :a{i}" for i in range(len(assignments)))
        update += " REMOVE #t, claimed_until"
        if not self._ttl_s:
            update += f", {TTL_ATTRIBUTE}"  # The claim's sweep time must not expire a value.
        check(deadline)
        try:
            client.update_item(
                TableName=self._table,
                Key={PARTITION_KEY: {"S": key}},
                UpdateExpression=update,
                ConditionExpression=_NOT_COMPLETED,
                ExpressionAttributeNames={
                    **names,
                    "#t": "token",
                    "#v": codec.VALUE,
                    "#p": codec.PARTS,
                },
                ExpressionAttributeValues=values,
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as exc:
            if not _conditional_failed(exc):
                raise
            return key, self._decode(client, deadline, [_refusing_item(exc)])[key], False
        return key, value, True


_TRANSIENT_CODES = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
        "InternalServerError",
        "ServiceUnavailable",
    }
)


def _transient(exc: ClientError | BotoCoreError) -> bool:
    """Throttling, a server error or a lost connection: worth one more try within the bound."""
    if isinstance(exc, ClientError):
        return exc.response.get("Error", {}).get("Code") in _TRANSIENT_CODES
    # Connecting failed or timed out; a read timed out or the connection closed mid-answer.
    return isinstance(exc, EndpointUnreachable | HTTPClientError)


def _refusing_item(exc: ClientError) -> dict[str, Any]:
    """The item that refused a conditional write (``ReturnValuesOnConditionCheckFailure``)."""
    item = cast("dict[str, Any]", exc.response).get("Item")
    return item if isinstance(item, dict) else {}


def _conditional_failed(exc: ClientError) -> bool:
    return exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"
