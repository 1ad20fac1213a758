"""The composition root: the only place that wires the gateway together."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import structlog
from aiohttp import web
from sqlalchemy.exc import SQLAlchemyError

from gateway.clock import Clock, SystemClock
from gateway.config_cache import ConfigCache
from gateway.config_snapshot import snapshot_path
from gateway.db.engine import create_engine
from gateway.delivery.in_process import DeliveryThread
from gateway.http import health, twilio_webhooks
from gateway.http.api import setup_api
from gateway.http.keys import RUNTIME
from gateway.http.request_id import request_id_middleware
from gateway.inbound import InboundService
from gateway.metrics import Metrics
from gateway.runtime import Runtime
from gateway.settings import Settings
from gateway.spool import Spool
from gateway.twilio.sender import SmsSender
from gateway.twilio.signature import SignatureChecker
from gateway.vault import Vault
from gateway.web import setup_web
from gateway.writer import GroupWriter
from rules.crisis import default_detector, detect_crisis

log = structlog.get_logger(__name__)

MAX_BODY_BYTES = 64 * 1024
SPOOL_RETRY_SECONDS = 2.0


@dataclass(slots=True)
class Deps:
    """What tests and the CLI may replace."""

    clock: Clock = field(default_factory=SystemClock)
    run_worker: bool = True
    commit_timeout: float = 5.0
    sender: SmsSender | None = None


async def _drain_spool(runtime: Runtime, delivery: DeliveryThread) -> None:
    """Write spooled messages whenever the database takes them again."""
    while True:
        if runtime.spool.waiting():
            try:
                if await runtime.inbound.replay_spool():
                    delivery.wake()
            except (SQLAlchemyError, OSError, TimeoutError) as exc:
                log.warning("spool_replay_waiting", error_type=type(exc).__name__)
            except Exception as exc:  # noqa: BLE001 - the drain must outlive any one failure
                log.error("spool_replay_failed", error_type=type(exc).__name__)
        runtime.metrics.spool_pending.set(runtime.spool.count())
        await asyncio.sleep(SPOOL_RETRY_SECONDS)


def create_app(settings: Settings, deps: Deps | None = None) -> web.Application:
    deps = deps or Deps()
    app = web.Application(client_max_size=MAX_BODY_BYTES, middlewares=[request_id_middleware])
    app.add_routes(health.routes)
    app.add_routes(twilio_webhooks.routes)
    setup_api(app)
    setup_web(app)

    async def lifetime(app: web.Application) -> AsyncIterator[None]:
        engine = create_engine(settings.database_url)
        vault = Vault.from_settings(settings)
        metrics = Metrics()
        config = ConfigCache(
            engine,
            vault,
            settings.config_refresh_seconds,
            snapshot=snapshot_path(settings.spool_dir),
        )
        writer = GroupWriter(settings.database_url)
        spool = Spool(settings.spool_dir, vault.keys)
        # Started even with --no-worker: the inbound fail-safe sends crisis alerts through it.
        delivery = DeliveryThread(
            settings,
            vault=vault,
            clock=deps.clock,
            metrics=metrics,
            config=config,
            sender=deps.sender,
            run_passes=deps.run_worker,
            give_way_to=writer.busy,
        )
        inbound = InboundService(
            config=config,
            vault=vault,
            writer=writer,
            spool=spool,
            clock=deps.clock,
            metrics=metrics,
            commit_timeout=deps.commit_timeout,
            alert_directly=delivery.alert_directly,
            on_alerts_stored=delivery.alerts_stored,
        )
        app[RUNTIME] = Runtime(
            settings=settings,
            clock=deps.clock,
            metrics=metrics,
            vault=vault,
            engine=engine,
            config=config,
            signatures=SignatureChecker(settings.secret("auth_token"), settings.public_url),
            writer=writer,
            spool=spool,
            inbound=inbound,
        )
        # Index the crisis lexicon and load the model now, not on the first (possibly crisis)
        # message; its patterns compile beside the first requests (each also compiles when a
        # message first needs it).
        detect_crisis("")
        threading.Thread(
            target=default_detector().compile_all, name="crisis-lexicon-warm-up", daemon=True
        ).start()
        await inbound.recall_spooled_answers()
        writer.start()
        await config.start()
        delivery.start()
        drain = asyncio.create_task(_drain_spool(app[RUNTIME], delivery), name="spool-drain")
        try:
            yield
        finally:
            drain.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await drain
            await delivery.stop()
            await config.stop()
            await writer.stop()
            await engine.dispose()

    app.cleanup_ctx.append(lifetime)
    return app
