"""The composition root: the one place that turns ``Settings`` into running objects."""

from __future__ import annotations

import contextlib
import gc
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from fastapi import FastAPI

from .api import install_error_handlers, install_routes
from .breaker import CircuitBreaker
from .docs import install_docs
from .metrics import Metrics
from .observe import ObserveRequests
from .service import PayloadService
from .settings import Settings, StoreKind
from .singleflight import SingleFlight
from .tiers.layered import LayeredStore
from .tiers.memory import MemoryCache, MemoryStore
from .tiers.ports import CacheTier, DurableStore
from .transformer import SIMULATED_IDENTITY, SimulatedTransformer, Transformer
from .wakeups import NoWakeups, Wakeups

# The build_* functions import the adapters a configuration names, and only those: boto3,
# redis and httpx cost a Lambda cold start hundreds of milliseconds when nothing uses them.
if TYPE_CHECKING:
    from .tiers.redis import RedisConnection
    from .tracing import Spans

log = logging.getLogger(__name__)


@dataclass
class Components:
    """Everything a running service holds; ``aclose`` releases it in reverse order."""

    settings: Settings
    metrics: Metrics
    transformer: Transformer
    caches: list[CacheTier]
    store: DurableStore
    flight: SingleFlight
    service: PayloadService
    closers: list[Callable[[], Awaitable[None]]] = field(default_factory=list)

    @property
    def tiers(self) -> list[CacheTier | DurableStore]:
        return [*self.caches, self.store]

    async def aclose(self) -> None:
        for close in reversed(self.closers):
            try:
                await close()
            except Exception:
                log.warning("error while closing %r", close, exc_info=True)


def build_transformer(settings: Settings) -> Transformer:
    if settings.transformer_url is not None:
        from .http_transformer import HttpTransformer

        return HttpTransformer(
            str(settings.transformer_url),
            timeout_s=settings.transformer_timeout_s,
            retries=settings.transformer_retries,
            max_output_bytes_per_string=settings.max_output_bytes_per_string,
            # A call's outputs all go into one payload, so the payload's bound is the call's.
            max_output_bytes_per_call=settings.max_output_bytes_per_payload,
            batched=settings.batch_size > 1,
            identity=settings.transformer_id,
        )
    return SimulatedTransformer(
        settings.transformer_delay_ms / 1000,
        identity=settings.transformer_id or SIMULATED_IDENTITY,
    )


def build_store(settings: Settings, recorded_by: str) -> DurableStore:
    match settings.store:
        case StoreKind.SQLITE:
            from .tiers.sqlite import SqliteStore

            return SqliteStore(
                settings.sqlite_path,
                timeout_s=settings.store_timeout_s,
                retry_after_s=settings.retry_after_s,
            )
        case StoreKind.DYNAMODB:
            from .tiers.dynamodb import DynamoDbStore

            assert settings.dynamodb_table is not None  # Settings checks it.
            return DynamoDbStore(
                settings.dynamodb_table,
                timeout_s=settings.store_timeout_s,
                retry_after_s=settings.retry_after_s,
                ttl_s=settings.dynamodb_ttl_s,
                recorded_by=recorded_by,
            )
        case StoreKind.MEMORY:
            return MemoryStore()


def build_redis(settings: Settings, metrics: Metrics) -> RedisConnection | None:
    if settings.redis_url is None:
        return None
    from .tiers.redis import UNREACHABLE, RedisConnection

    gauge = metrics.circuit_open.labels("redis")
    breaker = CircuitBreaker(
        "redis",
        cooldown_s=settings.redis_cooldown_s,
        failures=UNREACHABLE,
        on_change=lambda state: gauge.set(1 if state == "open" else 0),
    )
    return RedisConnection(
        str(settings.redis_url),
        cluster=settings.redis_cluster,
        timeout_s=settings.redis_timeout_s,
        max_connections=settings.redis_max_connections,
        breaker=breaker,
    )


def build_components(settings: Settings, spans: Spans | None = None) -> Components:
    """Wire the service from settings. Nothing connects here: every client is lazy.

    With ``spans``, every call to the transformer, the store and Redis is traced.
    """
    metrics = Metrics()
    transformer = build_transformer(settings)
    redis_cache: CacheTier | None = None
    wakeups: Wakeups = NoWakeups()
    redis = build_redis(settings, metrics)
    if redis is not None:
        from .tiers.redis import RedisCache
        from .tiers.redis_wakeups import RedisWakeups

        redis_cache = RedisCache(redis, prefix=settings.redis_prefix, ttl_s=settings.redis_ttl_s)
        wakeups = RedisWakeups(
            redis, prefix=settings.redis_prefix, reconnect_s=settings.redis_cooldown_s
        )
    store = build_store(settings, transformer.identity)
    if spans is not None:
        from .tracing import TracedCache, TracedStore, TracedTransformer, TracedWakeups

        transformer = TracedTransformer(transformer, spans)
        store = TracedStore(store, spans)
        if redis_cache is not None:
            redis_cache = TracedCache(redis_cache, spans)
            wakeups = TracedWakeups(wakeups, spans)
    caches: list[CacheTier] = [MemoryCache(settings.l1_max_entries, settings.l1_max_bytes)]
    if redis_cache is not None:
        caches.append(redis_cache)
    waits = metrics.singleflight_waits
    flight = SingleFlight(
        store,
        wakeups,
        ttl_s=settings.claim_ttl_s,
        wait_s=settings.claim_wait_s,
        retry_after_s=settings.retry_after_s,
        on_wait=lambda kind: waits.labels(kind).inc(),
    )
    service = PayloadService(
        transformer,
        LayeredStore(caches, store, metrics),
        flight,
        metrics,
        transformer_concurrency=settings.transformer_concurrency,
        transformer_batch_size=settings.batch_size,
        max_output_bytes_per_string=settings.max_output_bytes_per_string,
        max_output_bytes_per_payload=settings.max_output_bytes_per_payload,
    )
    # Closed in reverse: the flights (and the claims they hold) go before the clients under
    # them, and the wake-up listener before the Redis connection it uses.
    closers: list[Callable[[], Awaitable[None]]] = [
        transformer.aclose,
        store.aclose,
        *(c.aclose for c in caches),
        wakeups.aclose,
        flight.aclose,
    ]
    return Components(
        settings, metrics, transformer, caches, store, flight, service, closers=closers
    )


def create_app(settings: Settings | None = None, spans: Spans | None = None) -> FastAPI:
    """The ASGI app for ``settings`` (read from the environment when not given)."""
    settings = settings or Settings()
    components = build_components(settings, spans)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # What exists now (modules, the app) lives as long as the process: frozen, it is left
        # out of every full collection, which otherwise walked ~80,000 objects and paused a
        # 2,000-string miss for 100-170 ms.
        gc.freeze()
        yield
        await components.aclose()

    app = FastAPI(
        title="cache-service",
        version="0.1.0",
        summary="Transforms string lists once, stores the result, and serves it by id.",
        lifespan=lifespan,
        docs_url=None,  # docs.py serves /docs with pinned, integrity-checked assets
        redoc_url=None,  # ReDoc would load an unpinned script from a CDN; /docs suffices
    )
    app.state.components = components
    install_routes(app, components.service, settings, components.metrics, components.tiers)
    install_docs(app)
    install_error_handlers(app)
    app.add_middleware(ObserveRequests, metrics=components.metrics)
    return app
