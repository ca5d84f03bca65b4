"""Leases across processes: a random token per acquisition, renewed while the work runs.

The backends (Redis, SQLite, DynamoDB) only know how to set, extend and delete a record
conditionally; the token, the renewal loop and the fallback between backends live here once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from typing import Protocol, runtime_checkable

from .singleflight import Lease, Leases

log = logging.getLogger(__name__)


@runtime_checkable  # app.py asks a store whether it can hold leases
class LeaseBackend(Protocol):
    """Conditional writes on a lease record; every method is bounded in time by its adapter."""

    async def acquire_lease(self, key: str, token: str, ttl_s: float) -> bool:
        """Create the record, or take over an expired one; true when ``token`` now holds it."""
        ...

    async def renew_lease(self, key: str, token: str, ttl_s: float) -> bool:
        """Push the expiry out if ``token`` still holds the record."""
        ...

    async def release_lease(self, key: str, token: str) -> None:
        """Delete the record if ``token`` still holds it; never someone else's."""
        ...


class _RenewedLease:
    """One acquisition: its own token (never shared between tasks) and its renewal task."""

    def __init__(self, backend: LeaseBackend, key: str, token: str, ttl_s: float) -> None:
        self._backend = backend
        self._key = key
        self._token = token
        self._ttl_s = ttl_s
        self._renewal = asyncio.create_task(self._renew_until_released())

    async def _renew_until_released(self) -> None:
        while True:
            await asyncio.sleep(self._ttl_s / 3)
            try:
                if not await self._backend.renew_lease(self._key, self._token, self._ttl_s):
                    # Expired and taken over: the work goes on, the put-if-absent keeps one result.
                    log.warning("lease on %s was lost while its work ran", self._key)
                    return
            except Exception:
                log.warning("could not renew the lease on %s", self._key, exc_info=True)

    async def release(self) -> None:
        self._renewal.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._renewal
        await self._backend.release_lease(self._key, self._token)


class TokenLeases:
    """``Leases`` over any ``LeaseBackend``."""

    def __init__(self, backend: LeaseBackend, *, ttl_s: float) -> None:
        self._backend = backend
        self._ttl_s = ttl_s

    async def try_acquire(self, key: str) -> Lease | None:
        token = secrets.token_hex(16)
        if await self._backend.acquire_lease(key, token, self._ttl_s):
            return _RenewedLease(self._backend, key, token, self._ttl_s)
        return None

    async def aclose(self) -> None:
        return None


class FallbackLeases:
    """Leases from ``primary`` (Redis) while it answers, else from ``fallback`` (the store).

    During a switch two processes may each hold a lease from a different backend; that costs
    at most one duplicate transformer call, and the put-if-absent still stores one result.
    """

    def __init__(self, primary: Leases, fallback: Leases) -> None:
        self._primary = primary
        self._fallback = fallback

    async def try_acquire(self, key: str) -> Lease | None:
        try:
            return await self._primary.try_acquire(key)
        except Exception as exc:
            log.debug("primary leases failed (%r); using the store's", exc)
            return await self._fallback.try_acquire(key)

    async def aclose(self) -> None:
        await self._primary.aclose()
        await self._fallback.aclose()
