"""The load loop: POST each payload, GET its id back, on a bounded pool of workers."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import httpx

from .consistency import ConsistencyCheck
from .payloads import Payload, make_unique, payload_key
from .records import GET, POST, RequestRecord
from .settings import CliSettings

# The statuses the contract answers a well-formed request with.
_ALLOWED = {POST: (200, 201), GET: (200,)}


class Unreachable(Exception):
    """Not one request of the first round could connect."""


@dataclass(frozen=True)
class Iteration:
    """One POST (and GET) of one payload."""

    number: int
    payload: Payload
    key: str


@dataclass
class RunResult:
    """Everything a run observed, in the order requests finished."""

    records: list[RequestRecord] = field(default_factory=list)
    check: ConsistencyCheck = field(default_factory=ConsistencyCheck)
    duration_s: float = 0.0
    connected: bool = False


def plan(payloads: list[Payload], *, repeat: int, unique: bool) -> list[list[Iteration]]:
    """Two rounds: every payload once, then the repeats (so first calls are measured alone)."""
    run_token = secrets.token_hex(4)  # Fresh per run, so --unique misses on a rerun too.
    rounds: list[list[Iteration]] = [[], []]
    for r in range(repeat):
        for p, payload in enumerate(payloads):
            sent = make_unique(payload, f" #{run_token}-{r}") if unique else payload
            number = r * len(payloads) + p
            rounds[min(r, 1)].append(Iteration(number, sent, payload_key(sent)))
    return [round_ for round_ in rounds if round_]


async def run_load(
    settings: CliSettings,
    payloads: list[Payload],
    on_iteration: Callable[[], None] = lambda: None,
) -> RunResult:
    """Send every iteration; raise ``Unreachable`` if no request of the first round connected."""
    headers = {"x-api-key": settings.api_key.get_secret_value()} if settings.api_key else {}
    limits = httpx.Limits(max_connections=settings.concurrency)
    result = RunResult()
    started = time.perf_counter()
    async with httpx.AsyncClient(
        headers=headers, timeout=settings.timeout, limits=limits
    ) as client:
        exchange = _Exchange(client, settings, result)
        for number, round_ in enumerate(
            plan(payloads, repeat=settings.repeat, unique=settings.unique)
        ):
            await _in_pool(round_, exchange, settings.concurrency, on_iteration)
            if number == 0 and not result.connected:
                raise Unreachable(result.records[0].error if result.records else "no answer")
    result.duration_s = time.perf_counter() - started
    return result


async def _in_pool(
    iterations: Iterable[Iteration],
    exchange: _Exchange,
    concurrency: int,
    on_iteration: Callable[[], None],
) -> None:
    pending = iter(iterations)

    async def worker() -> None:
        for iteration in pending:  # One shared iterator: each iteration runs once.
            await exchange.run(iteration)
            on_iteration()

    await asyncio.gather(*(worker() for _ in range(concurrency)))


class _Exchange:
    """One iteration's requests and checks."""

    def __init__(self, client: httpx.AsyncClient, settings: CliSettings, result: RunResult):
        self._client = client
        self._settings = settings
        self._result = result

    async def run(self, iteration: Iteration) -> None:
        check = self._result.check
        url = self._settings.payload_url
        answer = await self._send(iteration.number, POST, url, iteration.payload)
        if answer is None:
            return
        response, latency = answer
        cache = response.headers.get("x-cache")
        posted = check.post(iteration.key, response.status_code, cache, _json_or_none(response))
        payload_id = posted[0] if posted else None
        self._record(iteration.number, POST, response, latency, payload_id)
        if posted is None or self._settings.no_get:
            return
        payload_id, output = posted
        answer = await self._send(iteration.number, GET, self._settings.item_url(payload_id))
        if answer is None:
            return
        response, latency = answer
        self._record(iteration.number, GET, response, latency, payload_id)
        check.get(payload_id, output, _json_or_none(response))

    async def _send(
        self,
        iteration: int,
        endpoint: str,
        url: str,
        payload: Payload | None = None,
    ) -> tuple[httpx.Response, float] | None:
        """The response and its latency when the contract allows its status; else a failure."""
        started = time.perf_counter()
        method = "POST" if endpoint == POST else "GET"
        try:
            response = await self._client.request(method, url, json=payload)
        except httpx.HTTPError as error:
            latency = _ms_since(started)
            if not isinstance(error, httpx.ConnectError | httpx.ConnectTimeout):
                self._result.connected = True
            failure = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
            self._result.records.append(
                RequestRecord(iteration, endpoint, None, latency, None, None, failure)
            )
            return None
        latency = _ms_since(started)
        self._result.connected = True
        if response.status_code not in _ALLOWED[endpoint]:
            self._result.records.append(
                RequestRecord(
                    iteration,
                    endpoint,
                    response.status_code,
                    latency,
                    response.headers.get("x-cache"),
                    None,
                    f"HTTP {response.status_code}: {_detail(response)}",
                )
            )
            return None
        return response, latency

    def _record(
        self,
        iteration: int,
        endpoint: str,
        response: httpx.Response,
        latency: float,
        payload_id: str | None,
    ) -> None:
        cache = response.headers.get("x-cache")
        self._result.records.append(
            RequestRecord(iteration, endpoint, response.status_code, latency, cache, payload_id)
        )


def _ms_since(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 3)


def _json_or_none(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _detail(response: httpx.Response) -> str:
    body = _json_or_none(response)
    detail = body.get("detail") if isinstance(body, dict) else None
    if isinstance(detail, list):  # FastAPI's validation errors: say where and what.
        detail = "; ".join(_validation_error(item) for item in detail)
    text = str(detail) if detail is not None else response.text or response.reason_phrase
    return " ".join(text.split())[:200]


def _validation_error(item: object) -> str:
    if not isinstance(item, dict):
        return str(item)
    where = ".".join(str(part) for part in item.get("loc", []))
    return f"{where}: {item.get('msg')}" if where else str(item.get("msg"))
