"""The slow, paid transformation that the cache exists to avoid repeating: the port, and the
simulated adapter (the HTTP one is ``http_transformer``, imported only when configured)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Protocol

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
