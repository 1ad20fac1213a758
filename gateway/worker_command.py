"""`gateway worker`: the delivery worker alone, for deployments that scale it apart from the
web processes. Runs until SIGTERM or SIGINT, then stops gracefully: the send in flight
finishes and what was claimed but not sent goes back to the queue.

With a metrics port it also serves `/healthz` and `/metrics` (gateway.worker_http), so that
an orchestrator can probe it and Prometheus can see its queue; without one it listens on
nothing.
"""

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
from gateway.worker_http import DEFAULT_HOST, WorkerHttpServer

log = structlog.get_logger(__name__)


def run_worker(
    settings: Settings, *, metrics_host: str = DEFAULT_HOST, metrics_port: int | None = None
) -> None:
    asyncio.run(
        run_worker_until_stopped(settings, metrics_host=metrics_host, metrics_port=metrics_port)
    )


async def run_worker_until_stopped(
    settings: Settings,
    stop: asyncio.Event | None = None,
    *,
    metrics_host: str = DEFAULT_HOST,
    metrics_port: int | None = None,
) -> None:
    """Runs until `stop` is set, or until SIGTERM or SIGINT when no event is given."""
    if stop is None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
    metrics = Metrics()
    http = None
    if metrics_port is not None:
        # Bound before anything is claimed: a port in use stops the worker before it starts.
        http = WorkerHttpServer(metrics, host=metrics_host, port=metrics_port)
        await http.start()
        log.info("worker_http_listening", host=metrics_host, port=http.port)
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
        metrics=metrics,
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
        # Last, so that the probe keeps answering while claimed rows are given back.
        if http is not None:
            await http.stop()
