"""DynamoDB as the durable store on AWS: one table, an item per unit of work, botocore off the loop.

An item is either a claim (``token``, ``claimed_until``) or a completed value (see
``dynamodb_codec``). Claiming is one conditional PutItem per key, completing one conditional
UpdateItem: two write requests per unit of work on a miss, the least that can both exclude
other writers and record the result. A refused write returns the item that refused it
(``ReturnValuesOnConditionCheckFailure``), so no read follows it.

botocore blocks, so every call runs on a small thread pool owned by the store. The caller's
deadline travels into the thread, and botocore's own timeouts and retries fit inside it, so an
abandoned call neither takes effect late nor keeps a pool thread from the calls behind it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, cast

import botocore
import botocore.session
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as EndpointUnreachable
from botocore.loaders import Loader

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
# Parts expire this much after their head; unreferenced parts (no TTL configured) after this.
_PART_MARGIN_S = 3600
_PROVISIONAL_S = 86400
_NAMES = {"#v": codec.VALUE, "#p": codec.PARTS, "#d": codec.DIGEST}
_NOT_COMPLETED = "attribute_not_exists(#v) AND attribute_not_exists(#p)"
_PING_KEY: dict[str, Any] = {PARTITION_KEY: {"S": "ping#"}}

log = logging.getLogger(__name__)

#: What the Lambda layer's build writes beside botocore (``infra/layer/botocore_subset.py``).
BOTOCORE_SUBSET = "botocore-subset"


def botocore_subset() -> Path | None:
    """The slice of botocore's data for DynamoDB that the Lambda layer ships, or None here.

    A client made from it reads DynamoDB's model and a few small files, where botocore's own
    loader lists its ~450 service folders twice and parses the 1.2 MB endpoints file of every
    service: about 50 ms of CPU off a cold start's first request (bench/PROFILE.md). Anywhere
    else (tests, the local server, the CLI), botocore's own data.
    """
    folder = Path(botocore.__file__).parents[1] / BOTOCORE_SUBSET
    return folder if folder.is_dir() else None


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
        on_damage: Callable[[int], None] = lambda count: None,
    ) -> None:
        """``client`` makes the DynamoDB client (default: botocore's, with bounded timeouts);
        tests give one that answers as DynamoDB does where moto cannot (throttling).
        ``clock`` is the wall clock that claims and TTLs are written by; ``on_damage`` counts
        values found damaged (their parts gone)."""
        self._table = table
        self._clock = clock
        self._on_damage = on_damage
        self._make_client = client or self._botocore_client
        self._timeout_s = timeout_s
        self._retry_after_s = retry_after_s
        self._ttl_s = ttl_s
        self._recorded_by = recorded_by
        self._max_workers = max_workers
        self._calls = self._executor()
        self._client: DynamoDBClient | None = None
        self._client_lock = threading.Lock()

    # -- plumbing ---------------------------------------------------------------------------

    def _executor(self) -> BoundedExecutor:
        return BoundedExecutor(
            timeout_s=self._timeout_s, max_workers=self._max_workers, thread_name_prefix="ddb"
        )

    def _dynamodb(self) -> DynamoDBClient:
        """The client, made on first use in a worker thread (it reads files and environment)."""
        with self._client_lock:
            if self._client is None:
                self._client = self._make_client()
            return self._client

    def _botocore_client(self) -> DynamoDBClient:
        # botocore's own client, as boto3 would make it without its resource layer (whose
        # import was a quarter of the SDK's, for nothing used here). Retries are ours
        # (``_run``): botocore's back off for up to seconds between attempts, far past a
        # call's bound, on the threads of calls given up on.
        per_attempt = self._timeout_s / (_ATTEMPTS + 1)
        config = Config(
            connect_timeout=min(1.0, per_attempt),
            read_timeout=per_attempt,
            retries={"mode": "standard", "max_attempts": 1},
            max_pool_connections=self._max_workers,
        )
        session = botocore.session.get_session()
        subset = botocore_subset()
        if subset is not None:
            loader = Loader(extra_search_paths=[str(subset)], include_default_search_paths=False)
            session.register_component("data_loader", loader)
        return cast("DynamoDBClient", session.create_client("dynamodb", config=config))

    async def _run(
        self,
        work: Callable[[DynamoDBClient, float], T],
        undo: Callable[[DynamoDBClient, float, T], None] | None = None,
    ) -> T:
        def reverse(result: T, deadline: float) -> None:
            assert undo is not None
            undo(self._dynamodb(), deadline, result)

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
            return await self._calls.run(bounded, undo=reverse if undo is not None else None)
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

    def _unavailable(self, what: str) -> StoreUnavailable:
        return StoreUnavailable(f"DynamoDB table {self._table} {what}", self._retry_after_s)

    async def _each(
        self,
        keys: Sequence[str],
        work: Callable[[DynamoDBClient, float, str], T],
        undo: Callable[[DynamoDBClient, float, T], None] | None = None,
    ) -> list[T | BaseException]:
        """``work`` for every key at once, one pool thread each; every key's outcome, its
        failure included, so that a caller can undo what the others did."""

        def one(key: str) -> Callable[[DynamoDBClient, float], T]:
            return lambda client, deadline: work(client, deadline, key)

        return await asyncio.gather(
            *(self._run(one(key), undo) for key in keys), return_exceptions=True
        )

    async def _all(
        self, keys: Sequence[str], work: Callable[[DynamoDBClient, float, str], T]
    ) -> list[T]:
        """``work`` for every key at once; the first failure raised once all are over."""
        results: list[T] = []
        for result in await self._each(keys, work):
            if isinstance(result, BaseException):
                raise result
            results.append(result)
        return results

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
            claim_item = {
                PARTITION_KEY: {"S": key},
                "token": {"S": token},
                "claimed_until": {"N": str(now_ms + int(ttl_s * 1000))},
                TTL_ATTRIBUTE: {"N": str(now_ms // 1000 + int(ttl_s) + _CLAIM_SWEEP_S)},
            }
            try:
                client.put_item(
                    TableName=self._table,
                    Item=claim_item,
                    # Absent, or a claim that expired or is this token's own (a repeated call).
                    ConditionExpression=(
                        f"attribute_not_exists({PARTITION_KEY}) OR ({_NOT_COMPLETED} "
                        "AND (claimed_until <= :now OR #t = :token))"
                    ),
                    ExpressionAttributeNames={"#v": codec.VALUE, "#p": codec.PARTS, "#t": "token"},
                    ExpressionAttributeValues={":now": {"N": str(now_ms)}, ":token": {"S": token}},
                    ReturnValuesOnConditionCheckFailure="ALL_OLD",
                )
            except ClientError as exc:
                if not _conditional_failed(exc):
                    raise
                item = _refusing_item(exc)
                if not codec.is_completed(item):
                    return key, None
                found = self._decode(client, deadline, [item])
                if key in found:
                    return key, found[key]
                # A head whose parts are gone counts as absent: claimed over, made again.
                return key, self._replace_damaged(client, key, item, claim_item)
            return key, True

        def undo(client: DynamoDBClient, deadline: float, result: tuple[str, object]) -> None:
            key, outcome = result
            if outcome is True:  # Landed after its caller gave up: nobody would release it.
                self._release_one(client, deadline, key, token)

        completed: dict[str, str] = {}
        claimed: set[str] = set()
        held: set[str] = set()
        failures: list[BaseException] = []
        for result in await self._each(keys, claim, undo):
            if isinstance(result, BaseException):
                failures.append(result)
                continue
            key, outcome = result
            if outcome is True:
                claimed.add(key)
            elif isinstance(outcome, str):
                completed[key] = outcome
            else:
                held.add(key)
        if failures:
            # One key failed: the caller hears a failure, so it must hold nothing.
            if claimed:
                try:
                    await self.release(sorted(claimed), token)
                except StoreUnavailable:
                    log.warning("could not release %d claim(s) of a failed call", len(claimed))
            raise failures[0]
        return ClaimResult(completed, frozenset(claimed), frozenset(held))

    async def renew(self, keys: Sequence[str], token: str, ttl_s: float) -> frozenset[str]:
        def renew(client: DynamoDBClient, deadline: float, key: str) -> str | None:
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
                return key  # Taken over or completed by another.
            return None

        return frozenset(key for key in await self._all(keys, renew) if key is not None)

    async def complete(
        self, items: Mapping[str, str], token: str, *, flush: bool = True
    ) -> Completion:
        # Every DynamoDB write is durable once acknowledged; ``flush`` changes nothing here.
        def complete(client: DynamoDBClient, deadline: float, key: str) -> _Completed:
            return self._complete_one(client, deadline, key, items[key], token)

        results = await self._all(list(items), complete)
        return Completion(
            stored={done.key: done.value for done in results},
            created=frozenset(done.key for done in results if done.created),
            lapsed=frozenset(done.key for done in results if done.lapsed),
        )

    async def release(self, keys: Sequence[str], token: str) -> None:
        def release(client: DynamoDBClient, deadline: float, key: str) -> None:
            self._release_one(client, deadline, key, token)

        await self._all(keys, release)

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

    def prepare(self) -> None:
        """Make the client now (botocore reads its model), without connecting."""
        self._dynamodb()

    async def reset(self) -> None:
        """Close the client's connections and start a new thread pool (before a snapshot).

        The client itself is kept: closing empties its connection pools, which it fills
        again on use. The threads go too: a process restored by forking (the tests' stand-in
        for a snapshot) has none of them, and a new pool starts its threads when called.
        """
        self._calls.shutdown(wait=True)
        self._calls = self._executor()
        with self._client_lock:
            if self._client is not None:
                self._client.close()

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
        """The values of completed items; a head whose parts are missing or damaged counts as
        absent (logged, counted): its key is made again instead of failing every request."""

        def read_parts(names: list[str]) -> dict[str, bytes]:
            # Always consistent: a head is written after its parts, and a read of the head
            # must not be followed by an older view without them.
            parts = self._get_items(client, deadline, names, consistent=True, projection={})
            return {item[PARTITION_KEY]["S"]: item["chunk"]["B"] for item in parts}

        found, damaged = codec.decode(items, read_parts)
        for key, reason in damaged.items():
            log.error(
                "DynamoDB table %s: the value of %s is damaged (%s); made again",
                self._table,
                key,
                reason,
            )
        if damaged:
            self._on_damage(len(damaged))
        return found

    def _release_one(self, client: DynamoDBClient, deadline: float, key: str, token: str) -> None:
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

    def _replace_damaged(
        self,
        client: DynamoDBClient,
        key: str,
        head: Mapping[str, Any],
        replacement: dict[str, Any],
    ) -> bool:
        """Put ``replacement`` over a head whose parts are gone; false if another did first."""
        try:
            client.put_item(
                TableName=self._table,
                Item=replacement,
                ConditionExpression="#d = :digest",
                ExpressionAttributeNames={"#d": codec.DIGEST},
                ExpressionAttributeValues={":digest": head[codec.DIGEST]},
            )
        except ClientError as exc:
            if not _conditional_failed(exc):
                raise
            return False
        return True

    def _complete_one(
        self, client: DynamoDBClient, deadline: float, key: str, value: str, token: str
    ) -> _Completed:
        now = self._clock()
        attributes, parts = codec.encode(value)
        # Parts outlive the head that points at them (DynamoDB's sweeper deletes expired items
        # in any order, days late): with a TTL, by a margin; without one, they are written to
        # expire, and made permanent once the head is written, so that parts nothing will ever
        # point at (a losing or failed completion's) are deleted in the end.
        expires = int(now) + self._ttl_s if self._ttl_s else 0
        part_expiry = expires + _PART_MARGIN_S if expires else int(now) + _PROVISIONAL_S
        for part in parts:
            check(deadline)
            self._put_part(client, {**part, TTL_ATTRIBUTE: {"N": str(part_expiry)}})
        assignments = {
            **attributes,
            "created_at": {"N": f"{now:.3f}"},
            "transformer": {"S": self._recorded_by},
            # Who wrote it: a completion retried after its answer was lost knows its own.
            "completed_by": {"S": token},
        }
        if expires:
            assignments[TTL_ATTRIBUTE] = {"N": str(expires)}
        names = {f"#a{i}": name for i, name in enumerate(assignments)}
        values = {f":a{i}": value for i, value in enumerate(assignments.values())}
        update = "SET " + ", ".join(f"#a{i} = :a{i}" for i in range(len(assignments)))
        update += " REMOVE #t, claimed_until"
        if not expires:
            update += f", {TTL_ATTRIBUTE}"  # The claim's sweep time must not expire a value.
        check(deadline)
        try:
            reply = client.update_item(
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
                ReturnValues="ALL_OLD",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as exc:
            if not _conditional_failed(exc):
                raise
            winner = _refusing_item(exc)
            if winner.get("completed_by", {}).get("S") == token:
                # This very write, retried after its answer was lost.
                self._keep_parts(client, parts, expires)
                return _Completed(key, value, created=True, lapsed=False)
            found = self._decode(client, deadline, [winner])
            if key not in found and self._replace_damaged(
                client, key, winner, {PARTITION_KEY: {"S": key}, **assignments}
            ):
                self._keep_parts(client, parts, expires)
                return _Completed(key, value, created=True, lapsed=True)
            if parts and winner.get(codec.DIGEST) != attributes.get(codec.DIGEST):
                self._drop_parts(client, parts)
            return _Completed(key, found.get(key, value), created=False, lapsed=True)
        self._keep_parts(client, parts, expires)
        old_token = reply.get("Attributes", {}).get("token", {}).get("S")
        return _Completed(key, value, created=True, lapsed=old_token != token)

    def _put_part(self, client: DynamoDBClient, part: dict[str, Any]) -> None:
        """Write a part unless it is permanent already (named by content: the same bytes)."""
        try:
            client.put_item(
                TableName=self._table,
                Item=part,
                ConditionExpression=(
                    f"attribute_not_exists({PARTITION_KEY}) OR attribute_exists({TTL_ATTRIBUTE})"
                ),
            )
        except ClientError as exc:
            if not _conditional_failed(exc):
                raise

    def _keep_parts(
        self, client: DynamoDBClient, parts: list[dict[str, Any]], expires: int
    ) -> None:
        """Make the parts of a written head permanent when the head is (no TTL configured).

        Failing here leaves them to expire: the head then counts as absent and is made again.
        """
        if expires:
            return
        for part in parts:
            try:
                client.update_item(
                    TableName=self._table,
                    Key={PARTITION_KEY: part[PARTITION_KEY]},
                    UpdateExpression=f"REMOVE {TTL_ATTRIBUTE}",
                    ConditionExpression=f"attribute_exists({PARTITION_KEY})",
                )
            except (ClientError, BotoCoreError):
                log.warning("could not keep a part of %s; it expires", part[PARTITION_KEY]["S"])

    def _drop_parts(self, client: DynamoDBClient, parts: list[dict[str, Any]]) -> None:
        """Delete the parts a losing completion wrote (best effort: they expire anyway)."""
        for part in parts:
            # Refused when permanent (another head uses the same bytes); else it expires.
            with contextlib.suppress(ClientError, BotoCoreError):
                client.delete_item(
                    TableName=self._table,
                    Key={PARTITION_KEY: part[PARTITION_KEY]},
                    ConditionExpression=f"attribute_exists({TTL_ATTRIBUTE})",
                )


@dataclass(frozen=True, slots=True)
class _Completed:
    key: str
    value: str
    created: bool
    lapsed: bool


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
