"""The composition root: the one place that turns ``Settings`` into running objects."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

from fastapi import FastAPI

from .api import install_error_handlers, install_routes
from .breaker import CircuitBreaker
from .docs import install_docs
from .leases import FallbackLeases, TokenLeases
from .metrics import Metrics
from .observe import ObserveRequests
from .service import PayloadService
from .settings import Settings, StoreKind
from .singleflight import Coordinator, Leases, ProcessLocalLeases
from .tiers.dynamodb import DynamoDbStore
from .tiers.layered import LayeredStore
from .tiers.memory import MemoryCache, MemoryStore
from .tiers.ports import CacheTier, DurableStore
from .tiers.redis import UNREACHABLE, RedisCache, RedisConnection, RedisLeaseBackend
from .tiers.sqlite import SqliteStore
from .transformer import HttpTransformer, SimulatedTransformer, Transformer

log = logging.getLogger(__name__)


@dataclass
class Components:
    """Everything a running service holds; ``aclose`` releases it in reverse order."""

    settings: Settings
    metrics: Metrics
    transformer: Transformer
    caches: list[CacheTier]
    store: DurableStore
    leases: Leases
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
        return HttpTransformer(
            str(settings.transformer_url),
            timeout_s=settings.transformer_timeout_s,
            retries=settings.transformer_retries,
            identity=settings.transformer_id,
        )
    return SimulatedTransformer(
        settings.transformer_delay_ms / 1000, identity=settings.transformer_id or "upper-case@1"
    )


def build_store(settings: Settings, recorded_by: str) -> DurableStore:
    match settings.store:
        case StoreKind.SQLITE:
            return SqliteStore(
                settings.sqlite_path,
                timeout_s=settings.store_timeout_s,
                retry_after_s=settings.retry_after_s,
            )
        case StoreKind.DYNAMODB:
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


def build_leases(settings: Settings, store: DurableStore, redis: RedisConnection | None) -> Leases:
    """Redis leases when there is Redis, falling back to the store's; a memory store is alone."""
    store_leases: Leases = ProcessLocalLeases()
    if isinstance(store, SqliteStore | DynamoDbStore):
        store_leases = TokenLeases(store, ttl_s=settings.lock_ttl_s)
    if redis is None:
        return store_leases
    redis_leases = TokenLeases(
        RedisLeaseBackend(redis, prefix=settings.redis_prefix),
        ttl_s=settings.lock_ttl_s,
    )
    return FallbackLeases(redis_leases, store_leases)


def build_redis(settings: Settings, metrics: Metrics) -> RedisConnection | None:
    if settings.redis_url is None:
        return None
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


def build_components(settings: Settings) -> Components:
    """Wire the service from settings. Nothing connects here: every client is lazy."""
    metrics = Metrics()
    transformer = build_transformer(settings)
    caches: list[CacheTier] = [MemoryCache(settings.l1_max_entries, settings.l1_max_bytes)]
    redis = build_redis(settings, metrics)
    if redis is not None:
        caches.append(RedisCache(redis, prefix=settings.redis_prefix, ttl_s=settings.redis_ttl_s))
    store = build_store(settings, transformer.identity)
    leases = build_leases(settings, store, redis)
    coordinator = Coordinator(
        leases,
        wait_s=settings.lock_wait_s,
        retry_after_s=settings.retry_after_s,
        on_wait=metrics.singleflight_waits.labels("coalesced").inc,
    )
    layered = LayeredStore(caches, store, metrics)
    service = PayloadService(
        transformer,
        layered,
        coordinator,
        metrics,
        transformer_concurrency=settings.transformer_concurrency,
    )
    closers: list[Callable[[], Awaitable[None]]] = [
        transformer.aclose,
        store.aclose,
        *(c.aclose for c in caches),
        leases.aclose,
    ]
    return Components(
        settings, metrics, transformer, caches, store, leases, service, closers=closers
    )


def create_app(settings: Settings | None = None) -> FastAPI:
    """The ASGI app for ``settings`` (read from the environment when not given)."""
    settings = settings or Settings()
    components = build_components(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
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
