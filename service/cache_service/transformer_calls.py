"""Every paid call to the transformer: inside a slot of the process's concurrency, each output
within its bound, counted. The API's misses and the warm worker's batches share one of these,
so a process never has more calls in flight than ``transformer_concurrency``."""

from __future__ import annotations

import asyncio
import time
import traceback
from collections.abc import Callable, Sequence

from .errors import TransformerError, TransformerOutputTooLarge
from .metrics import Metrics
from .payload import utf8_size
from .transformers.port import Transformer


def _admit_all() -> None:
    return None


class TransformerCalls:
    """The transformer as the domain calls it (see the module)."""

    def __init__(
        self,
        transformer: Transformer,
        metrics: Metrics,
        *,
        concurrency: int,
        max_output_bytes_per_string: int,
    ) -> None:
        self._transformer = transformer
        self._metrics = metrics
        self._slots = asyncio.Semaphore(concurrency)
        self._max_string_bytes = max_output_bytes_per_string

    @property
    def identity(self) -> str:
        """The transformer's identity, which goes into every id."""
        return self._transformer.identity

    async def transform(
        self, values: Sequence[str], *, admit: Callable[[], None] = _admit_all
    ) -> list[str]:
        """The outputs for ``values`` from one call; ``admit`` runs once a slot is had and may
        raise to refuse the call (nothing starts after a bound it checks is passed)."""
        async with self._slots:
            admit()
            return await self._call(values)

    async def _call(self, values: Sequence[str]) -> list[str]:
        started = time.perf_counter()
        try:
            outputs = self._within_bound(await self._transformer.transform(values))
        except Exception as exc:
            self._metrics.count_transformer_call(ok=False, strings=len(values))
            # A failure is kept by the flights that share it, in reference cycles that only
            # a full collection frees, and the frames below it hold the answer and its
            # connection (megabytes when it was too large). Keep the traceback's lines, drop
            # their variables: without this, 120 refused 20 MB answers left the process about
            # 180 MB larger; with it, about 3 MB.
            traceback.clear_frames(exc.__traceback__)
            if isinstance(exc, TransformerError):
                raise
            raise TransformerError(f"transformer failed: {exc!r}") from exc
        finally:
            self._metrics.observe_transformer_latency(time.perf_counter() - started)
        self._metrics.count_transformer_call(ok=True, strings=len(values))
        return outputs

    def _within_bound(self, outputs: list[str]) -> list[str]:
        """``outputs``, unless one is over the bound: then the whole call is refused."""
        for output in outputs:
            if (size := utf8_size(output)) > self._max_string_bytes:
                raise TransformerOutputTooLarge(
                    f"the transformer answered {size} bytes for one string, more than "
                    f"CACHE_MAX_OUTPUT_BYTES_PER_STRING ({self._max_string_bytes})"
                )
        return outputs
