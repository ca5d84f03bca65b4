"""The default transformer: upper-casing behind a delay, standing in for a paid service."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

#: The simulated transformer's identity; part of every id it produces.
SIMULATED_IDENTITY = "upper-case@1"


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
