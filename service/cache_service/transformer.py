"""The slow, paid transformation that the cache exists to avoid repeating."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

from .errors import TransformerError, TransformerTimeout

if TYPE_CHECKING:
    import httpx

#: The simulated transformer's identity; part of every id it produces.
SIMULATED_IDENTITY = "upper-case@1"


class Transformer(Protocol):
    """Turns strings into their results, one call per batch. ``identity`` goes into every id."""

    @property
    def identity(self) -> str: ...

    async def transform(self, values: Sequence[str]) -> list[str]:
        """The results of ``values``, same length and order; one paid call."""
        ...

    async def aclose(self) -> None: ...


class SimulatedTransformer:
    """Upper-casing behind a fixed delay per call: a stand-in for the paid external service."""

    def __init__(self, delay_s: float, identity: str = SIMULATED_IDENTITY) -> None:
        self._delay_s = delay_s
        self._identity = identity

    @property
    def identity(self) -> str:
        return self._identity

    async def transform(self, values: Sequence[str]) -> list[str]:
        if self._delay_s:
            await asyncio.sleep(self._delay_s)
        return [value.upper() for value in values]

    async def aclose(self) -> None:
        return None


class HttpTransformer:
    """One string: ``POST url {"input": s}`` answered by ``{"output": t}``. A batch (when the
    batch size is above 1): ``{"inputs": [...]}`` answered by ``{"outputs": [...]}``, same length
    and order. Any other answer fails the whole call, and nothing of it is stored.

    Connection errors and 5xx are retried a bounded number of times with jittered backoff;
    a timeout is not retried, so one call never costs more than about one timeout.
    """

    def __init__(
        self,
        url: str,
        *,
        timeout_s: float,
        retries: int,
        batched: bool = False,
        identity: str | None = None,
        backoff_s: float = 0.05,
    ) -> None:
        # httpx is imported here, not at the top: the simulated transformer never needs it,
        # and importing it (certifi, ssl) adds to every Lambda cold start.
        import httpx

        self._url = url
        self._timeout = httpx.Timeout(timeout_s)
        self._retries = retries
        self._batched = batched
        self._identity = identity or f"http:{url}"
        self._backoff_s = backoff_s
        # Created on first use, so it binds to the event loop that serves requests.
        self._client: httpx.AsyncClient | None = None

    @property
    def identity(self) -> str:
        return self._identity

    def _http(self) -> httpx.AsyncClient:
        import httpx

        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self._timeout)
        return self._client

    async def transform(self, values: Sequence[str]) -> list[str]:
        import httpx

        if self._batched:
            body: dict[str, object] = {"inputs": list(values)}
        else:
            (value,) = values  # Unbatched callers send one string per call.
            body = {"input": value}
        last_problem = "no attempt made"
        for attempt in range(self._retries + 1):
            if attempt:
                await asyncio.sleep(self._backoff_s * 2 ** (attempt - 1) * random.uniform(0.5, 1.5))  # noqa: S311
            try:
                response = await self._http().post(self._url, json=body)
            except httpx.TimeoutException as exc:
                raise TransformerTimeout(
                    f"transformer at {self._url} did not answer within {self._timeout.read}s"
                ) from exc
            except httpx.TransportError as exc:
                last_problem = f"cannot reach transformer at {self._url}: {exc!r}"
                continue
            if response.status_code >= 500:
                last_problem = f"transformer at {self._url} answered {response.status_code}"
                continue
            return self._outputs_of(response, len(values))
        raise TransformerError(f"{last_problem} (after {self._retries + 1} attempts)")

    def _outputs_of(self, response: httpx.Response, count: int) -> list[str]:
        if response.status_code != 200:
            raise TransformerError(
                f"transformer at {self._url} answered {response.status_code}: {response.text[:200]}"
            )
        field = "outputs" if self._batched else "output"
        try:
            answer = response.json()[field]
        except (ValueError, KeyError, TypeError) as exc:
            raise TransformerError(
                f"transformer at {self._url} answered without a JSON '{field}' field"
            ) from exc
        outputs = answer if self._batched else [answer]
        if not isinstance(outputs, list) or not all(isinstance(o, str) for o in outputs):
            raise TransformerError(f"transformer at {self._url} answered a non-string output")
        if len(outputs) != count:
            raise TransformerError(
                f"transformer at {self._url} answered {len(outputs)} outputs for {count} inputs"
            )
        return outputs

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None
