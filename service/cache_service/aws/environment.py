"""What one Lambda execution environment keeps from one invocation to the next.

Both functions (the API's and the warm worker's) run every invocation on one event loop, set
as current before each (nothing else may swap the loop under clients that hold connections),
inside Powertools' logs, metrics and traces unless those are left out.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .observability import LambdaObservability

LambdaEvent = dict[str, Any]


class ExecutionEnvironment:
    """The loop and the observability of one environment; a subclass serves the events."""

    def __init__(self, *, observe: bool = True) -> None:
        self._observing = observe
        self._loop: asyncio.AbstractEventLoop | None = None
        self._observe: LambdaObservability | None = None

    @property
    def loop(self) -> asyncio.AbstractEventLoop | None:
        """The loop every invocation runs on, once the first one has made it."""
        return self._loop

    def __call__(self, event: LambdaEvent, context: Any) -> dict[str, Any]:
        self._start()
        if self._observe is None:
            return self._serve(event, context)
        return self._observe.invoke(self._serve, event, context)

    def _start(self) -> None:
        if self._loop is None or self._loop.is_closed():
            self._loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self._loop)
        if self._observe is None and self._observing:
            # First, so that even the build's log lines (a configuration error) are JSON.
            from .observability import LambdaObservability

            self._observe = LambdaObservability()

    def _serve(self, event: LambdaEvent, context: Any) -> dict[str, Any]:
        raise NotImplementedError
