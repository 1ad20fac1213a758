"""`gateway worker`: the delivery worker alone, for deployments that scale it apart from the
web processes. Runs until SIGTERM or SIGINT, then stops gracefully: the send in flight
finishes and what was claimed but not sent goes back to the queue."""

from __future__ import annotations

import asyncio
import signal

import structlog

from gateway.clock import SystemClock
from gateway.config_cache import ConfigCache
from gateway.db.engine import create_engine
from gateway.delivery.sending import build_sender
from gateway.delivery.worker import DeliveryWorker
from gateway.metrics import Metrics
from gateway.settings import Settings
from gateway.vault import Vault

log = structlog.get_logger(__name__)


def run_worker(settings: Settings) -> None:
    asyncio.run(run_worker_until_stopped(settings))


async def run_worker_until_stopped(settings: Settings, stop: asyncio.Event | None = None) -> None:
    """Runs until `stop` is set, or until SIGTERM or SIGINT when no event is given."""
    if stop is None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
    engine = create_engine(settings.database_url)
    vault = Vault.from_settings(settings)
    config = ConfigCache(engine, vault, settings.config_refresh_seconds)
    sender = build_sender(settings, echo=settings.env == "development")
    worker = DeliveryWorker(
        engine=engine,
        vault=vault,
        sender=sender,
        clock=SystemClock(),
        settings=settings,
        metrics=Metrics(),
        config=config,
    )
    try:
        await config.start()
        worker.start()
        log.info("worker_running", worker=worker.worker_id, dry_run=settings.dry_run)
        await stop.wait()
    finally:
        await worker.stop()
        await config.stop()
        await sender.close()
        await engine.dispose()
