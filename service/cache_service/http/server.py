"""Serve an ASGI app with uvicorn, the edge limits of the settings, and request ids in the log."""

from __future__ import annotations

import logging
import resource
from typing import Any

from starlette.types import ASGIApp

from ..settings import Settings
from .limits import HeadLimits, bounded_protocol

log = logging.getLogger(__name__)

# Descriptors kept for what is not a client: the listening socket, SQLite, Redis, the
# transformer's connections, log files.
RESERVED_FILES = 256


def connections_within_file_limit(wanted: int) -> int:
    """Raise this process's open-file limit for ``wanted`` connections; the cap that fits.

    A cap above the descriptor limit would fail accept() before the cap ever applied, which is
    how slow clients locked everyone out at about 1,000 connections under the common 1024.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    needed = wanted + RESERVED_FILES
    if soft != resource.RLIM_INFINITY and soft < needed:
        raised = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (raised, hard))
        soft = raised
    if soft != resource.RLIM_INFINITY and soft < needed:
        fitted = max(soft - RESERVED_FILES, 8)
        log.warning(
            "CACHE_MAX_CONNECTIONS=%d does not fit the open-file limit %d: capping at %d",
            wanted,
            soft,
            fitted,
        )
        return fitted
    return wanted


def head_limits(settings: Settings) -> HeadLimits:
    """The limits that ``settings`` set, with the connection cap fitted to this process."""
    return HeadLimits(
        max_bytes=settings.max_header_bytes,
        max_headers=settings.max_headers,
        timeout_s=settings.header_timeout_s,
        max_connections=connections_within_file_limit(settings.max_connections),
    )


def log_config(level: str) -> dict[str, Any]:
    """uvicorn's logging, with the request id on every line (the app's loggers included)."""
    request_id = {"()": "cache_service.http.request_id.RequestIdFilter"}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"request_id": request_id},
        "formatters": {
            "default": {
                "()": "uvicorn.logging.DefaultFormatter",
                "fmt": "%(levelprefix)s [%(request_id)s] %(name)s: %(message)s",
            },
            "access": {
                "()": "uvicorn.logging.AccessFormatter",
                "fmt": '%(levelprefix)s [%(request_id)s] %(client_addr)s - "%(request_line)s" '
                "%(status_code)s",
            },
        },
        "handlers": {
            "default": {
                "formatter": "default",
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stderr",
                "filters": ["request_id"],
            },
            "access": {
                "formatter": "access",
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stdout",
                "filters": ["request_id"],
            },
        },
        "loggers": {
            "uvicorn": {"handlers": ["default"], "level": "INFO", "propagate": False},
            "uvicorn.error": {"level": "INFO"},
            "uvicorn.access": {"handlers": ["access"], "level": "INFO", "propagate": False},
        },
        "root": {"handlers": ["default"], "level": level.upper()},
    }


def serve(app: ASGIApp, settings: Settings, *, host: str, port: int, log_level: str) -> None:
    """Run ``app`` until SIGTERM or SIGINT."""
    import uvicorn

    uvicorn.run(
        app,
        host=host,
        port=port,
        log_level=log_level,
        log_config=log_config(log_level),
        http=bounded_protocol(head_limits(settings)),
        ws="none",  # no route speaks WebSocket; an upgrade is answered as plain HTTP
        server_header=False,
        timeout_graceful_shutdown=10,
    )
