"""The HTTP transformer adapter: one paid call per string or per batch, bounded in time and size.

Its own module so that httpx (certifi, ssl) is imported only when a transformer URL is set:
the simulated transformer never needs it, and every Lambda cold start would pay for it.
"""

from __future__ import annotations

import asyncio
import json
import random
import socket
import ssl
from collections.abc import Sequence

import httpx

from ..errors import TransformerError, TransformerOutputTooLarge, TransformerTimeout

# The longest JSON text for one byte of a string is an escape like \u0001: six bytes.
_JSON_BYTES_PER_BYTE = 6
# Room for {"outputs": [...]} around the strings, and for quotes, commas and indentation.
_ENVELOPE_BYTES = 1024
_BYTES_PER_ITEM = 16
# What an error message quotes of a non-200 answer (and all that is read of it).
_PREVIEW_BYTES = 1024
# The kernel's receive buffer on transformer connections. The event loop takes in whatever
# the buffer holds when it reads, cap or no cap: with Linux's autotuning (up to tcp_rmem's
# maximum, 32 MB on the test machine) a flooding transformer put about 7 MB per call in memory,
# and 120 such calls left the process about 30 MB larger; with this, about 3 MB. It still
# carries about 20 MB/s at a 50 ms round trip.
_RECEIVE_BUFFER_BYTES = 1024 * 1024


class HttpTransformer:
    """One string: ``POST url {"input": s}`` answered by ``{"output": t}``. A batch (when the
    batch size is above 1): ``{"inputs": [...]}`` answered by ``{"outputs": [...]}``, same length
    and order. Any other answer fails the whole call, and nothing of it is stored.

    Connection errors and 5xx are retried a bounded number of times with jittered backoff;
    a timeout is not retried, and bounds a whole attempt (a transformer that trickles its
    answer is cut off too), so one call never costs more than about one timeout. The answer
    is read up to a byte cap derived from the output bounds, so a transformer that answers
    megabytes costs the cap in memory, not the megabytes.
    """

    def __init__(
        self,
        url: str,
        *,
        timeout_s: float,
        retries: int,
        max_output_bytes_per_string: int,
        max_output_bytes_per_call: int,
        batched: bool = False,
        identity: str | None = None,
        backoff_s: float = 0.05,
    ) -> None:
        self._url = url
        self._timeout_s = timeout_s
        self._retries = retries
        self._max_string_bytes = max_output_bytes_per_string
        self._max_call_bytes = max_output_bytes_per_call
        self._batched = batched
        self._identity = identity or f"http:{url}"
        self._backoff_s = backoff_s
        # Created on first use, so it binds to the event loop that serves requests. Its TLS
        # context (the CA bundle, read and parsed: the costly part) outlives it, through
        # ``reset``.
        self._client: httpx.AsyncClient | None = None
        self._tls: ssl.SSLContext | None = None

    @property
    def identity(self) -> str:
        return self._identity

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            if self._tls is None:
                self._tls = httpx.create_ssl_context()
            transport = httpx.AsyncHTTPTransport(
                verify=self._tls,
                socket_options=[(socket.SOL_SOCKET, socket.SO_RCVBUF, _RECEIVE_BUFFER_BYTES)],
            )
            self._client = httpx.AsyncClient(
                timeout=httpx.Timeout(self._timeout_s), transport=transport
            )
        return self._client

    def answer_cap(self, count: int) -> int:
        """The most bytes read of the answer to ``count`` strings.

        JSON text can take six bytes for one byte of the string it carries (``\\u0001``), so no
        answer whose outputs fit the bounds is ever cut; the envelope and separators are
        allowed for on top.
        """
        outputs = min(count * self._max_string_bytes, self._max_call_bytes)
        return _JSON_BYTES_PER_BYTE * outputs + _ENVELOPE_BYTES + _BYTES_PER_ITEM * count

    async def transform(self, values: Sequence[str]) -> list[str]:
        if self._batched:
            body: dict[str, object] = {"inputs": list(values)}
        else:
            (value,) = values  # Unbatched callers send one string per call.
            body = {"input": value}
        cap = self.answer_cap(len(values))
        last_problem = "no attempt made"
        for attempt in range(self._retries + 1):
            if attempt:
                await asyncio.sleep(self._backoff_s * 2 ** (attempt - 1) * random.uniform(0.5, 1.5))  # noqa: S311
            try:
                async with asyncio.timeout(self._timeout_s):
                    status, answer = await self._post(body, cap)
            except (TimeoutError, httpx.TimeoutException) as exc:
                raise TransformerTimeout(
                    f"transformer at {self._url} did not answer within {self._timeout_s}s"
                ) from exc
            except httpx.TransportError as exc:
                last_problem = f"cannot reach transformer at {self._url}: {exc!r}"
                continue
            if status >= 500:
                last_problem = f"transformer at {self._url} answered {status}"
                continue
            return self._outputs_of(status, answer, len(values))
        raise TransformerError(f"{last_problem} (after {self._retries + 1} attempts)")

    async def _post(self, body: dict[str, object], cap: int) -> tuple[int, bytes]:
        """The status and (up to ``cap`` bytes of) the body; the connection is dropped past it."""
        client = self._http()
        request = client.build_request(
            "POST", self._url, json=body, headers={"Accept-Encoding": "identity"}
        )
        response = await client.send(request, stream=True)
        try:
            if response.status_code != 200:
                # Only a preview, for the message; the rest is never read.
                return response.status_code, await _preview(response)
            # Read raw: a compressed answer would expand past the cap inside one chunk.
            encoding = response.headers.get("content-encoding", "identity").strip().lower()
            if encoding != "identity":
                raise TransformerError(
                    f"transformer at {self._url} answered with Content-Encoding {encoding!r} "
                    "although identity was asked for"
                )
            declared = response.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > cap:
                raise self._too_large(cap)
            answer = await _body_within(response, cap)
            if answer is None:
                raise self._too_large(cap)
            return 200, answer
        finally:
            await response.aclose()
            # httpx 0.28 keeps a streamed response and its stream in a reference cycle
            # (encode/httpx#3733), so what the connection had buffered (megabytes, from a
            # transformer that floods it) would wait for a full garbage collection.
            response.stream = httpx.ByteStream(b"")

    def _too_large(self, cap: int) -> TransformerOutputTooLarge:
        return TransformerOutputTooLarge(
            f"transformer at {self._url} answered more than {cap} bytes, more than outputs "
            "within CACHE_MAX_OUTPUT_BYTES_PER_STRING and CACHE_MAX_OUTPUT_BYTES_PER_PAYLOAD "
            "can take"
        )

    def _outputs_of(self, status: int, answer: bytes, count: int) -> list[str]:
        if status != 200:
            preview = answer.decode("utf-8", "replace")[:200]
            raise TransformerError(f"transformer at {self._url} answered {status}: {preview}")
        field = "outputs" if self._batched else "output"
        try:
            found = json.loads(answer)[field]
        except (ValueError, KeyError, TypeError) as exc:
            raise TransformerError(
                f"transformer at {self._url} answered without a JSON '{field}' field"
            ) from exc
        outputs = found if self._batched else [found]
        if not isinstance(outputs, list) or not all(isinstance(o, str) for o in outputs):
            raise TransformerError(f"transformer at {self._url} answered a non-string output")
        if len(outputs) != count:
            raise TransformerError(
                f"transformer at {self._url} answered {len(outputs)} outputs for {count} inputs"
            )
        return outputs

    def prepare(self) -> None:
        """Make the client and its TLS context now, without connecting (before a snapshot)."""
        self._http()

    async def reset(self) -> None:
        """Close the pool's connections; the next call makes a client with a fresh pool."""
        await self.aclose()

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None


async def _body_within(response: httpx.Response, cap: int) -> bytes | None:
    """The whole body if it is at most ``cap`` bytes; None, with no more read, past that."""
    received = bytearray()
    async for chunk in response.aiter_raw():
        if len(received) + len(chunk) > cap:
            return None
        received += chunk
    return bytes(received)


async def _preview(response: httpx.Response) -> bytes:
    """The first ``_PREVIEW_BYTES`` of the body, for a message; the rest is never read."""
    received = bytearray()
    async for chunk in response.aiter_raw():
        received += chunk[: _PREVIEW_BYTES - len(received)]
        if len(received) >= _PREVIEW_BYTES:
            break
    return bytes(received)
