"""The composition root: the one place that turns ``Settings`` into running objects."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from fastapi import FastAPI

from .breaker import CircuitBreaker
from .caches.layered import LayeredStore
from .caches.memory import MemoryCache
from .caches.port import CacheTier
from .coordination.singleflight import SingleFlight
from .coordination.wakeups import Wakeups
from .coordination.watchers import NoWakeups
from .http.api_keys import ApiKeys
from .http.contract import PayloadLimits
from .http.docs import install_docs
from .http.failures import install_failure_handlers
from .http.observe import ObserveRequests
from .http.openapi import install_openapi
from .http.operation_routes import install_operation_routes
from .http.payload_routes import PayloadRoutes
from .metrics import Metrics
from .service import PayloadService
from .settings import Settings, StoreKind
from .stores.memory import MemoryStore
from .stores.port import DurableStore
from .transformer_calls import TransformerCalls
from .transformers.port import Transformer
from .transformers.simulated import SIMULATED_IDENTITY, SimulatedTransformer

# The build_* functions import the adapters a configuration names, and only those: botocore,
# redis and httpx cost a Lambda cold start hundreds of milliseconds when nothing uses them.
if TYPE_CHECKING:
    from .caches.hot_set import HotSet
    from .redis_connection import RedisConnection
    from .tracing import Spans

log = logging.getLogger(__name__)


@runtime_checkable
class Reconnecting(Protocol):
    """An adapter that holds sockets, and can make its clients early and close them early.

    For an environment snapshotted after start (Lambda SnapStart): the clients are made
    before the snapshot, their connections closed, and each restored copy connects anew.
    """

    def prepare(self) -> None:
        """Make the clients now, without connecting."""

    async def reset(self) -> None:
        """Close every connection; the next call connects again."""


@dataclass
class Components:
    """Everything a running service holds; ``aclose`` releases it in reverse order."""

    settings: Settings
    metrics: Metrics
    transformer: Transformer
    caches: list[CacheTier]
    store: DurableStore
    flight: SingleFlight
    calls: TransformerCalls
    layered: LayeredStore
    service: PayloadService
    closers: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    #: Counts reads for ``warm --hot``; None without Redis or with CACHE_HOT_SET_SIZE=0.
    hot_set: HotSet | None = None
    #: The adapters that hold sockets, in the order their connections are closed.
    reconnecting: list[Reconnecting] = field(default_factory=list)

    @property
    def tiers(self) -> list[CacheTier | DurableStore]:
        return [*self.caches, self.store]

    def prepare(self) -> None:
        """Make every client the configuration uses, without connecting."""
        for adapter in self.reconnecting:
            adapter.prepare()

    async def reset(self) -> None:
        """Close every connection, keeping the service usable: the next call reconnects."""
        for adapter in self.reconnecting:
            await adapter.reset()

    async def aclose(self) -> None:
        for close in reversed(self.closers):
            try:
                await close()
            except Exception:
                log.warning("error while closing %r", close, exc_info=True)


def build_transformer(settings: Settings) -> Transformer:
    if settings.transformer_url is not None:
        from .transformers.http import HttpTransformer

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


def build_store(settings: Settings, recorded_by: str, metrics: Metrics) -> DurableStore:
    match settings.store:
        case StoreKind.SQLITE:
            from .stores.sqlite import SqliteStore

            return SqliteStore(
                settings.sqlite_path,
                timeout_s=settings.store_timeout_s,
                retry_after_s=settings.retry_after_s,
            )
        case StoreKind.DYNAMODB:
            from .stores.dynamodb.store import DynamoDbStore

            assert settings.dynamodb_table is not None  # Settings checks it.
            return DynamoDbStore(
                settings.dynamodb_table,
                timeout_s=settings.store_timeout_s,
                retry_after_s=settings.retry_after_s,
                ttl_s=settings.dynamodb_ttl_s,
                recorded_by=recorded_by,
                on_damage=metrics.count_damaged,
            )
        case StoreKind.MEMORY:
            return MemoryStore()


def build_redis(settings: Settings, metrics: Metrics) -> RedisConnection | None:
    if settings.redis_url is None:
        return None
    from .redis_connection import UNREACHABLE, RedisConnection

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
    hot_set: HotSet | None = None
    redis = build_redis(settings, metrics)
    if redis is not None:
        from .caches.redis import RedisCache
        from .coordination.redis_wakeups import RedisWakeups

        redis_cache = RedisCache(redis, prefix=settings.redis_prefix, ttl_s=settings.redis_ttl_s)
        wakeups = RedisWakeups(
            redis, prefix=settings.redis_prefix, reconnect_s=settings.redis_cooldown_s
        )
        if settings.hot_set_size:
            from .caches.hot_set import HotSet

            hot_set = HotSet(
                redis,
                prefix=settings.redis_prefix,
                size=settings.hot_set_size,
                flush_s=settings.hot_flush_s,
                on_flush=metrics.count_hot_flush,
            )
    store = build_store(settings, transformer.identity, metrics)
    # Before tracing wraps them. The wake-up listener goes before the connection it uses.
    reconnecting: list[Reconnecting] = [
        adapter
        for adapter in (transformer, store, wakeups, redis)
        if isinstance(adapter, Reconnecting)
    ]
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
    flight = SingleFlight(
        store,
        wakeups,
        ttl_s=settings.claim_ttl_s,
        wait_s=settings.claim_wait_s,
        retry_after_s=settings.retry_after_s,
        on_wait=metrics.count_wait,
        on_lapse=lambda keys: metrics.count_lapsed(len(keys)),
    )
    calls = TransformerCalls(
        transformer,
        metrics,
        concurrency=settings.transformer_concurrency,
        max_output_bytes_per_string=settings.max_output_bytes_per_string,
    )
    layered = LayeredStore(caches, store, metrics)
    service = PayloadService(
        calls,
        layered,
        flight,
        transformer_batch_size=settings.batch_size,
        max_output_bytes_per_payload=settings.max_output_bytes_per_payload,
        reads=hot_set,
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
    if hot_set is not None:  # Its last counts go out first, while Redis is still connected.
        closers.append(hot_set.aclose)
    return Components(
        settings,
        metrics,
        transformer,
        caches,
        store,
        flight,
        calls,
        layered,
        service,
        closers=closers,
        hot_set=hot_set,
        reconnecting=reconnecting,
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
        hot_set = components.hot_set
        flushing = asyncio.create_task(hot_set.run()) if hot_set is not None else None
        yield
        if flushing is not None:
            flushing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await flushing
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
    keys = ApiKeys(settings.api_key_list) if settings.api_key_list else None
    operations_keys = keys if settings.operations_need_key else None
    payload_routes = PayloadRoutes(
        components.service,
        PayloadLimits(settings.max_items, settings.max_string_length),
        max_body_bytes=settings.max_body_bytes,
        body_read_timeout_s=settings.body_read_timeout_s,
        keys=keys,
        shared_cache=settings.shared_cache,
    )
    # First in the table: the hit paths are matched before anything else. Registered on the
    # app itself: ``include_router`` adds a routing indirection per request that the
    # benchmark's profile showed at about 9% of a cache hit.
    app.router.routes[0:0] = payload_routes.routes()
    install_operation_routes(
        app,
        components.tiers,
        components.metrics,
        timeout_s=settings.store_timeout_s,
        keys=operations_keys,
    )
    install_docs(app)
    secured = ["/payload", "/payload/{id}", *(["/ready", "/metrics"] if operations_keys else [])]

    def secure(document: dict[str, Any]) -> None:
        if keys is not None:
            keys.openapi(document, secured)

    install_openapi(app, secure)
    install_failure_handlers(app)
    app.add_middleware(
        ObserveRequests,
        metrics=components.metrics,
        replayed=frozenset({"/payload/{id}"}) if settings.shared_cache else frozenset(),
    )
    return app
