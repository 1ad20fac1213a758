"""Prometheus metrics of a gateway with a practice imported."""

from __future__ import annotations

from typing import Any

from gateway.app import Deps, create_app
from gateway.settings import Settings


async def test_metrics_show_the_configuration_version_in_memory(
    imported: Settings, aiohttp_client: Any
) -> None:
    client = await aiohttp_client(create_app(imported, Deps(run_worker=False)))
    version = (await (await client.get("/readyz")).json())["config_version"]
    assert version > 0
    assert f"gateway_config_version {float(version)}" in await (await client.get("/metrics")).text()
