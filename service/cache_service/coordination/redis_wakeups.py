"""Wake-ups over Redis pub/sub: one channel, one subscription per process.

A completion publishes its keys on the channel; each process's listener wakes its local
waiters on those keys. One channel rather than one per key keeps a process at a single
subscription however many keys it waits on, and classic PUBLISH reaches subscribers on every
node of a cluster. Until the subscription is confirmed (at start, after Redis was lost),
``listening`` is false and waiters poll the store at the fast pace.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence

from ..redis_connection import UNREACHABLE, RedisConnection
from .watchers import Watchers

log = logging.getLogger(__name__)

_SEPARATOR = "\n"


class RedisWakeups(Watchers):
    """``Wakeups`` on a Redis channel; the listener starts on the first watch."""

    def __init__(self, connection: RedisConnection, *, prefix: str, reconnect_s: float) -> None:
        super().__init__()
        self._connection = connection
        self._channel = prefix + "completed"
        self._reconnect_s = reconnect_s
        self._listener: asyncio.Task[None] | None = None
        self._listening = False

    @property
    def listening(self) -> bool:
        return self._listening

    def watch(self, keys: Sequence[str]) -> contextlib.AbstractContextManager[asyncio.Event]:
        if self._listener is None:
            self._listener = asyncio.create_task(self._listen_forever())
        return super().watch(keys)

    async def announce(self, keys: Sequence[str]) -> None:
        message = _SEPARATOR.join(keys)
        await self._connection.call(lambda client: client.publish(self._channel, message))

    def prepare(self) -> None:
        """Nothing to make ahead: the subscription starts on the first watch."""

    async def reset(self) -> None:
        """End the subscription; the next watch subscribes again (before a snapshot)."""
        await self.aclose()

    async def aclose(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listener

    async def _listen_forever(self) -> None:
        while True:
            try:
                await self._listen()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if isinstance(exc, UNREACHABLE) or self._listening:
                    log.debug("wake-up subscription lost (%r); waiters poll meanwhile", exc)
                else:
                    log.warning("wake-up subscription failed", exc_info=True)
            finally:
                self._listening = False
            await asyncio.sleep(self._reconnect_s)

    async def _listen(self) -> None:
        client = await self._connection.client()
        pubsub = client.pubsub()
        try:
            await pubsub.subscribe(self._channel)
            while True:
                message = await pubsub.get_message(timeout=None)
                if message is None:
                    continue
                if message["type"] == "subscribe":
                    self._listening = True
                elif message["type"] == "message":
                    data = message["data"]
                    text = data.decode() if isinstance(data, bytes) else str(data)
                    self.wake(text.split(_SEPARATOR))
        finally:
            with contextlib.suppress(Exception):
                await pubsub.aclose()  # type: ignore[no-untyped-call]
