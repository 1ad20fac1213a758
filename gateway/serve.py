"""`gateway serve`: the web app with graceful shutdown."""

from __future__ import annotations

import structlog
from aiohttp import web

from gateway.app import Deps, create_app
from gateway.logs import AccessLogger
from gateway.settings import Settings

log = structlog.get_logger(__name__)


def serve(settings: Settings, *, host: str, port: int, run_worker: bool) -> None:
    app = create_app(settings, Deps(run_worker=run_worker))
    log.info("gateway_starting", host=host, port=port, env=settings.env, dry_run=settings.dry_run)
    web.run_app(
        app,
        host=host,
        port=port,
        access_log_class=AccessLogger,
        print=None,
        # In-flight webhooks get this long to finish after SIGTERM.
        shutdown_timeout=10.0,
    )
