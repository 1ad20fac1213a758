"""`gateway serve`: the web app with graceful shutdown."""

from __future__ import annotations

import gc
import sys

import structlog
from aiohttp import web

from gateway.app import Deps, create_app
from gateway.logs import AccessLogger
from gateway.settings import Settings, SettingsError
from gateway.spool import probe

log = structlog.get_logger(__name__)


# The group writer's thread waits for the GIL after every database round trip; at Python's
# default 5 ms switch interval a batch spent most of its time waiting (measured: 0.20 of a
# bare app's throughput at 5 ms, 0.34 at 0.5 ms; see bench/README.md).
SWITCH_INTERVAL_SECONDS = 0.0005


async def _freeze_startup_objects(_: web.Application) -> None:
    # What start-up built (the compiled crisis lexicon, the configuration, SQLAlchemy's
    # metadata) lives as long as the process; frozen, the collector stops walking it in every
    # full collection, which showed as pauses in the webhook's p99 (bench/README.md).
    gc.collect()
    gc.freeze()


def _check_spool(settings: Settings) -> None:
    """Found at start, not in the first database outage, when a crisis message needs it."""
    try:
        probe(settings.spool_dir)
    except OSError as exc:
        raise SettingsError(
            f"GATEWAY_SPOOL_DIR cannot be written ({exc.strerror}): messages could not be "
            "kept through a database outage"
        ) from None


def serve(settings: Settings, *, host: str, port: int, run_worker: bool) -> None:
    _check_spool(settings)
    sys.setswitchinterval(SWITCH_INTERVAL_SECONDS)
    app = create_app(settings, Deps(run_worker=run_worker))
    app.on_startup.append(_freeze_startup_objects)
    log.info("gateway_starting", host=host, port=port, env=settings.env, dry_run=settings.dry_run)
    if settings.env == "production" and settings.dry_run:
        # Allowed (a staging copy, say), but no one on call hears of a crisis from this process.
        log.error("production_dry_run", reason_code="no TWILIO_ACCOUNT_SID: nothing is sent")
    web.run_app(
        app,
        host=host,
        port=port,
        access_log_class=AccessLogger,
        print=None,
        # In-flight webhooks get this long to finish after SIGTERM.
        shutdown_timeout=10.0,
    )
