"""An ``api`` fixture that runs each contract test in-process and against a real process."""

from __future__ import annotations

import contextlib
import re
import uuid
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from cache_service.app import create_app
from cache_service.settings import Settings
from tests.support.processes import ServiceProcess

# Small limits so the limit tests stay small; the defaults have their own test.
LIMITS = {
    "CACHE_MAX_ITEMS": "50",
    "CACHE_MAX_STRING_LENGTH": "200",
    "CACHE_MAX_BODY_BYTES": "16384",
    "CACHE_BODY_READ_TIMEOUT_S": "1",
    "CACHE_TRANSFORMER_DELAY_MS": "10",
    "CACHE_HEADER_TIMEOUT_S": "1",
}

_STRINGS = re.compile(r"^cache_transformer_strings_total (\S+)$", re.MULTILINE)


@dataclass
class Api:
    """A client for one running service, however it runs."""

    client: httpx.AsyncClient
    mode: str

    async def transformed_strings(self) -> int:
        """Strings transformed so far (a batched call counts each), from the service's /metrics."""
        text = (await self.client.get("/metrics")).text
        match = _STRINGS.search(text)
        return int(float(match.group(1))) if match else 0


def settings_from(env: Mapping[str, str]) -> Settings:
    return Settings.model_validate(
        {key.removeprefix("CACHE_").lower(): value for key, value in env.items()}
    )


@contextlib.asynccontextmanager
async def in_process(env: Mapping[str, str]) -> AsyncIterator[Api]:
    app = create_app(settings_from(env))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield Api(client, "in-process")


@contextlib.asynccontextmanager
async def in_subprocess(env: Mapping[str, str], workdir: Path) -> AsyncIterator[Api]:
    with ServiceProcess(env=dict(env), workdir=workdir) as process:
        async with httpx.AsyncClient(base_url=process.url, timeout=30) as client:
            yield Api(client, "process")


@contextlib.asynccontextmanager
async def open_api(mode: str, env: Mapping[str, str], workdir: Path) -> AsyncIterator[Api]:
    """A service with ``env`` on top of the test limits, in-process or as a real process."""
    full = {**LIMITS, "CACHE_SQLITE_PATH": str(workdir / "cache.db"), **env}
    opener = in_process(full) if mode == "in-process" else in_subprocess(full, workdir)
    async with opener as api:
        yield api


def service_log(workdir: Path) -> str:
    """Everything the service processes started in ``workdir`` have logged."""
    return "".join(path.read_text(errors="replace") for path in workdir.glob("service-*.log"))


@pytest.fixture(scope="session")
def shared_process(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceProcess]:
    """One real service for the whole session; tests use unique strings to stay apart."""
    workdir = tmp_path_factory.mktemp("service")
    env = {**LIMITS, "CACHE_SQLITE_PATH": str(workdir / "cache.db")}
    with ServiceProcess(env=env, workdir=workdir) as process:
        yield process


@pytest.fixture(params=["in-process", "process"])
async def api(
    request: pytest.FixtureRequest, tmp_path: Path, shared_process: ServiceProcess
) -> AsyncIterator[Api]:
    if request.param == "in-process":
        async with open_api("in-process", {}, tmp_path) as api:
            yield api
    else:
        async with httpx.AsyncClient(base_url=shared_process.url, timeout=30) as client:
            yield Api(client, "process")


@pytest.fixture
def word() -> str:
    """A string no other test uses, so a shared service never has it cached."""
    return f"w{uuid.uuid4().hex[:12]}"
