"""The delivery worker inside `gateway serve`, on a thread and event loop of its own.

On the web server's loop, every database round trip of a worker transaction waited behind the
HTTP work ready at that moment; on SQLite the transaction held the database's write lock all
that while, and the group writer, with every webhook waiting for it, waited too. Measured under
the webhook benchmark, the worker on the web loop halved the gateway's throughput. On a loop of
its own, with its own engine, its transactions take as long as the database needs.

The SMS sender lives on that loop as well (its HTTP session belongs to one loop), so the crisis
alerts that the inbound fail-safe sends directly are handed over to it there. On SQLite its
transactions give way to the group commit, which webhooks are waiting for.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Sequence
from typing import Any

import structlog

from gateway.clock import Clock
from gateway.config_cache import ConfigCache
from gateway.db.engine import Busy, create_engine
from gateway.delivery.direct import DirectAttempt
from gateway.delivery.sending import build_sender
from gateway.delivery.worker import DeliveryWorker
from gateway.metrics import Metrics
from gateway.settings import Settings
from gateway.twilio.sender import SmsSender
from gateway.vault import Vault

log = structlog.get_logger(__name__)


class DeliveryThread:
    """Owns a `DeliveryWorker`, its engine and its sender on a thread of its own. Its methods
    are called from the web server's loop. With `run_passes=False` (`serve --no-worker`) the
    worker runs no passes and only sends direct alerts."""

    def __init__(
        self,
        settings: Settings,
        *,
        vault: Vault,
        clock: Clock,
        metrics: Metrics,
        config: ConfigCache,
        sender: SmsSender | None = None,
        run_passes: bool = True,
        give_way_to: Busy | None = None,
    ) -> None:
        self._settings = settings
        self._vault = vault
        self._clock = clock
        self._metrics = metrics
        self._config = config
        self._sender = sender
        self._run_passes = run_passes
        self._give_way_to = give_way_to
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._worker: DeliveryWorker | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._thread_main, name="delivery", daemon=True)
        self._thread.start()
        self._ready.wait()

    async def stop(self) -> None:
        """Let the send in flight finish, give back what was claimed, close the sender."""
        if self._thread is None:
            return
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        await asyncio.to_thread(self._thread.join)
        self._thread = None

    def wake(self) -> None:
        """New rows were committed: look at once instead of at the next poll."""
        self._call(lambda worker: worker.wake())

    def alerts_stored(self, rows: Sequence[dict[str, Any]]) -> None:
        """Crisis alerts were committed: `DeliveryWorker.alerts_stored` on the worker's loop."""
        self._call(lambda worker: worker.alerts_stored(rows))

    async def alert_directly(self, rows: Sequence[dict[str, Any]]) -> dict[str, DirectAttempt]:
        """`DeliveryWorker.alert_directly`, run on the worker's loop."""
        if self._loop is None or self._worker is None:
            return {}
        future = asyncio.run_coroutine_threadsafe(self._worker.alert_directly(rows), self._loop)
        return await asyncio.wrap_future(future)

    def _call(self, action: Callable[[DeliveryWorker], None]) -> None:
        worker, loop = self._worker, self._loop
        if worker is not None and loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(action, worker)

    def _thread_main(self) -> None:
        try:
            asyncio.run(self._main())
        except Exception as exc:  # noqa: BLE001 - the thread's end is logged, not raised
            log.error("delivery_thread_failed", error_type=type(exc).__name__)
        finally:
            self._ready.set()

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        engine = create_engine(self._settings.database_url, give_way_to=self._give_way_to)
        sender = self._sender or build_sender(
            self._settings, echo=self._settings.env == "development"
        )
        worker = DeliveryWorker(
            engine=engine,
            vault=self._vault,
            sender=sender,
            clock=self._clock,
            settings=self._settings,
            metrics=self._metrics,
            config=self._config,
        )
        self._worker = worker
        try:
            if self._run_passes:
                worker.start()
            self._ready.set()
            await self._stop.wait()
        finally:
            await worker.stop()
            await sender.close()
            await engine.dispose()
