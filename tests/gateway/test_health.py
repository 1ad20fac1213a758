from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web
from aiohttp.test_utils import TestClient

from gateway.app import Deps, create_app
from gateway.http.keys import RUNTIME
from gateway.settings import Settings

ClientFactory = Callable[[web.Application], Awaitable[TestClient[web.Request, web.Application]]]


async def test_health_ready_and_metrics(settings: Settings, aiohttp_client: ClientFactory) -> None:
    client = await aiohttp_client(create_app(settings, Deps(run_worker=False)))
    assert (await client.get("/healthz")).status == 200
    ready = await client.get("/readyz")
    assert ready.status == 200
    body = await ready.json()
    assert body["ready"] is True
    assert body["database"] == "ok"
    metrics = await client.get("/metrics")
    assert metrics.status == 200
    assert "gateway_webhook_seconds" in await metrics.text()


async def test_ready_reports_a_database_outage_without_turning_unready(
    settings: Settings, aiohttp_client: ClientFactory
) -> None:
    app = create_app(settings, Deps(run_worker=False))
    client = await aiohttp_client(app)
    runtime = app[RUNTIME]
    await runtime.engine.dispose()
    runtime.config.database_ok = False
    ready = await client.get("/readyz")
    assert ready.status == 200
    assert (await ready.json())["database"] == "unavailable"


async def test_every_response_carries_a_request_id(
    settings: Settings, aiohttp_client: ClientFactory
) -> None:
    client = await aiohttp_client(create_app(settings, Deps(run_worker=False)))
    generated = await client.get("/healthz")
    assert len(generated.headers["X-Request-Id"]) == 32
    kept = await client.get("/healthz", headers={"X-Request-Id": "abc-123-def"})
    assert kept.headers["X-Request-Id"] == "abc-123-def"
    refused = await client.get("/healthz", headers={"X-Request-Id": "+15557654321 <x>"})
    assert refused.headers["X-Request-Id"] != "+15557654321 <x>"
