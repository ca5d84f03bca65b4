"""The local server carries nothing of the Lambda observability: no Powertools, no tracing."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

SERVE_A_MISS_AND_A_HIT = textwrap.dedent(
    """
    import asyncio, json, sys
    import httpx
    import cache_service.__main__, cache_service.http.server  # the server's own entry points
    from cache_service.app import create_app
    from cache_service.settings import Settings

    app = create_app(Settings(store="memory", transformer_delay_ms=0))

    async def main() -> None:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://local") as client:
            made = await client.post("/payload", json={"list_1": ["a"], "list_2": ["b"]})
            assert made.status_code == 201, made.text
            got = await client.get(f"/payload/{made.json()['id']}")
            assert got.status_code == 200, got.text
        components = app.state.components
        print(json.dumps({
            "modules": sorted(sys.modules),
            "adapters": [type(components.transformer).__name__, type(components.store).__name__],
        }))

    asyncio.run(main())
    """
)


def test_the_local_server_loads_no_powertools_and_holds_untraced_adapters() -> None:
    run = subprocess.run(
        [sys.executable, "-c", SERVE_A_MISS_AND_A_HIT],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    seen = json.loads(run.stdout.strip().splitlines()[-1])
    lambda_only = ("aws_lambda_powertools", "aws_xray_sdk", "cache_service.aws.observability")
    assert [m for m in seen["modules"] if m.startswith(lambda_only)] == []
    assert "cache_service.tracing" not in seen["modules"]
    assert seen["adapters"] == ["SimulatedTransformer", "MemoryStore"]
