"""A circuit breaker: after a failure, skip a dependency for a while instead of waiting on it."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from .errors import CacheServiceError

T = TypeVar("T")

log = logging.getLogger(__name__)


class CircuitOpen(CacheServiceError):
    """The dependency failed recently; the call was not attempted."""


class CircuitBreaker:
    """Closed, then open for ``cooldown_s`` after a failure, then one trial call.

    A dead Redis would otherwise add its connect timeout to every request. While open, calls
    fail at once; after the cooldown a single trial goes through (concurrent callers still fail
    fast), and its success closes the breaker: the service reconnects by itself.
    """

    def __init__(
        self,
        name: str,
        *,
        cooldown_s: float,
        failures: tuple[type[BaseException], ...],
        on_change: Callable[[str], None] = lambda state: None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self._cooldown_s = cooldown_s
        self._failures = failures
        self._on_change = on_change
        self._clock = clock
        self._open_until: float | None = None
        self._trial_running = False

    @property
    def state(self) -> str:
        if self._open_until is None:
            return "closed"
        return "open" if self._clock() < self._open_until else "half-open"

    def check(self) -> None:
        """Raise ``CircuitOpen`` while the dependency is being skipped (no trial is started)."""
        if self._open_until is not None and self._clock() < self._open_until:
            raise CircuitOpen(f"{self.name} is unavailable; retrying it later")

    async def call(self, operation: Callable[[], Awaitable[T]]) -> T:
        trial = False
        if self._open_until is not None:
            if self._clock() < self._open_until or self._trial_running:
                raise CircuitOpen(f"{self.name} is unavailable; retrying it later")
            trial = self._trial_running = True
        try:
            result = await operation()
        except self._failures as exc:
            self._trip(exc)
            raise
        finally:
            if trial:
                self._trial_running = False
        if self._open_until is not None:
            self._open_until = None
            log.warning("%s is reachable again", self.name)
            self._on_change("closed")
        return result

    def _trip(self, exc: BaseException) -> None:
        was_open = self._open_until is not None
        self._open_until = self._clock() + self._cooldown_s
        if not was_open:
            log.warning(
                "%s failed (%r); skipping it for %.1fs at a time until it answers",
                self.name,
                exc,
                self._cooldown_s,
            )
            self._on_change("open")
