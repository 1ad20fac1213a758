"""The composition root: the only place that wires the gateway together."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from aiohttp import web

from gateway.clock import Clock, SystemClock
from gateway.config_cache import ConfigCache
from gateway.db.engine import create_engine
from gateway.http import health
from gateway.http.keys import RUNTIME
from gateway.metrics import Metrics
from gateway.runtime import Runtime
from gateway.settings import Settings
from gateway.vault import Vault

MAX_BODY_BYTES = 64 * 1024


@dataclass(slots=True)
class Deps:
    """What tests and the CLI may replace."""

    clock: Clock = field(default_factory=SystemClock)
    run_worker: bool = True


def create_app(settings: Settings, deps: Deps | None = None) -> web.Application:
    deps = deps or Deps()
    app = web.Application(client_max_size=MAX_BODY_BYTES)
    app.add_routes(health.routes)

    async def lifetime(app: web.Application) -> AsyncIterator[None]:
        engine = create_engine(settings.database_url)
        vault = Vault.from_settings(settings)
        config = ConfigCache(engine, vault, settings.config_refresh_seconds)
        runtime = Runtime(
            settings=settings,
            clock=deps.clock,
            metrics=Metrics(),
            vault=vault,
            engine=engine,
            config=config,
        )
        app[RUNTIME] = runtime
        await config.start()
        try:
            yield
        finally:
            await config.stop()
            await engine.dispose()

    app.cleanup_ctx.append(lifetime)
    return app
