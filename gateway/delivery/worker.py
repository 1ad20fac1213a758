"""The delivery worker: sends what the outbox holds, when it is due, once.

Each pass, at an instant passed in: rows whose send was interrupted become `unknown`, held
rows follow configuration changes, due alert escalations are queued, then due rows are claimed
(alerts first) and each is prepared (opt-out, availability, digest, send slot), sent and its
outcome recorded. A running worker runs passes in two lanes: one for everything, and one for
crisis alerts only, woken at once, so that an alert never waits behind a slow batch.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import secrets
import socket
import time
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, Final

import structlog
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.clock import Clock
from gateway.config_cache import ConfigCache
from gateway.crypto import DecryptionError
from gateway.delivery import inbox_held
from gateway.delivery.alert_batch import AlertBatchSender
from gateway.delivery.alert_watch import WATCH_AFTER, StoredAlertWatch
from gateway.delivery.alerts import escalate_alerts
from gateway.delivery.claim import (
    Claim,
    claim_due,
    due_backlog,
    expire_sending,
    release_claims,
    set_aside,
)
from gateway.delivery.digest import digest_units
from gateway.delivery.direct import DirectAlerts, DirectAttempt
from gateway.delivery.held import follow_availability
from gateway.delivery.outbound import Outbound
from gateway.delivery.periodic import claim_run
from gateway.delivery.preparation import NoSlot, Preparer
from gateway.delivery.rate import send_interval
from gateway.delivery.recording import OutcomeRecorder
from gateway.metrics import Metrics
from gateway.outbox import PRIORITY_ALERT, TO_CLIENT_KINDS
from gateway.retention import purge_expired_bodies
from gateway.settings import Settings
from gateway.twilio.sender import SmsSender
from gateway.vault import Vault

log = structlog.get_logger(__name__)

BATCH_SIZE: Final = 20
RETENTION_PERIOD: Final = timedelta(hours=24)
# How often a worker asks the database whether the daily job is due.
_RETENTION_CHECK: Final = timedelta(minutes=10)
_ALERT_LANE_BACKSTOP: Final = 5.0
_ALERT_PASS_SPACING: Final = 0.05
_FAILURE_LOG_SECONDS: Final = 60.0
_CLAIMED_BY_LENGTH: Final = 64
# A row whose crisis alert is being sent directly is looked at again after this long.
_DIRECT_UNDER_WAY: Final = timedelta(seconds=2)
# How long a row whose record conflicts waits before it is tried again.
_SET_ASIDE: Final = timedelta(minutes=5)


def _default_worker_id() -> str:
    worker_id = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
    return worker_id[-_CLAIMED_BY_LENGTH:]


class DeliveryWorker:
    def __init__(
        self,
        *,
        engine: AsyncEngine,
        vault: Vault,
        sender: SmsSender,
        clock: Clock,
        settings: Settings,
        metrics: Metrics,
        config: ConfigCache | None = None,
        worker_id: str | None = None,
        lease_seconds: float = 60,
        poll_seconds: float = 0.5,
        batch_size: int = BATCH_SIZE,
        rng: random.Random | None = None,
    ) -> None:
        self.worker_id = (worker_id or _default_worker_id())[:_CLAIMED_BY_LENGTH]
        self._engine = engine
        self._vault = vault
        self._sender = sender
        self._clock = clock
        self._metrics = metrics
        self._config = config
        self._lease = timedelta(seconds=lease_seconds)
        self._poll = poll_seconds
        self._batch_size = batch_size
        interval = send_interval(settings.send_rate)
        status_callback = settings.public_url + "/twilio/status"
        # Dry-run gets no delivery callbacks, so every alert would look undelivered.
        self._escalate = not settings.dry_run
        self._retention_days = settings.retention_days
        self._stop_timeout = settings.twilio_timeout_seconds + 5
        self._wake = asyncio.Event()
        self._alert_wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = False
        self._config_version: int | None = None
        self._retention_checked: datetime | None = None
        self._next_due: datetime | None = None
        self._busy_numbers: set[str] = set()
        # Sends of the current pass: the row behind each (to the same phone, kept in order)
        # could not be claimed with it, and may go as soon as its send slot allows.
        self._sent = 0
        self._direct = DirectAlerts(
            vault=vault,
            sender=sender,
            clock=clock,
            metrics=metrics,
            status_callback=status_callback,
        )
        out = Outbound(
            engine=engine,
            vault=vault,
            sender=sender,
            metrics=metrics,
            worker_id=self.worker_id,
            lease=self._lease,
            interval=interval,
            status_callback=status_callback,
        )
        self._preparer = Preparer(out, config)
        self._recorder = OutcomeRecorder(
            out,
            # Jitter only spreads retries; it needs no cryptographic strength.
            rng=rng or random.Random(),  # noqa: S311
            note_due=self._note_due,
        )
        self._alert_batch = AlertBatchSender(out, self._recorder)
        self._alert_pass_started: float | None = None
        self._alert_pass_failed = False
        self._watch = StoredAlertWatch(engine, self._direct, self._alerts_stalled)

    # Running ----------------------------------------------------------------------------

    def start(self) -> None:
        """Run passes in the background until `stop()`; call inside the running loop."""
        self._stopping = False
        self._tasks = [
            asyncio.create_task(self._run(alerts_only=False), name="delivery"),
            asyncio.create_task(self._run(alerts_only=True), name="delivery-alerts"),
        ]
        log.info("delivery_started", worker=self.worker_id)

    def wake(self) -> None:
        """New rows were committed: look at once instead of at the next poll."""
        self._wake.set()
        self._alert_wake.set()

    def alerts_stored(self, rows: Sequence[dict[str, Any]]) -> None:
        """These crisis alert rows were just committed: they go at once (the rest waits for
        the next poll), and directly should the database stop answering before they are on
        their way (`StoredAlertWatch`)."""
        self._alert_wake.set()
        self._watch.watch(rows)

    def _alerts_stalled(self) -> bool:
        started = self._alert_pass_started
        return self._alert_pass_failed or (
            started is not None and time.monotonic() - started > WATCH_AFTER
        )

    async def stop(self) -> None:
        """Let the send in flight finish, then give back what was claimed and not sent."""
        self._stopping = True
        self.wake()
        await self._watch.stop()
        if self._tasks:
            _, late = await asyncio.wait(self._tasks, timeout=self._stop_timeout)
            for task in late:
                # A send cut off here stays `sending` and is reconciled after its lease.
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)
            self._tasks = []
        try:
            released = await release_claims(self._engine, self.worker_id)
        except (SQLAlchemyError, OSError) as exc:
            log.warning("delivery_release_failed", error_type=type(exc).__name__)
            return
        log.info("delivery_stopped", worker=self.worker_id, count=released)

    async def _run(self, *, alerts_only: bool) -> None:
        wake = self._alert_wake if alerts_only else self._wake
        failures, last_warned = 0, 0.0
        last_alert_pass = -_ALERT_PASS_SPACING
        while not self._stopping:
            wake.clear()
            if alerts_only:
                # A lone alert goes at once. Under a flood, one pass every spacing takes all the
                # alerts that came meanwhile: a pass costs three commits whatever it carries,
                # and on SQLite each commit holds up the webhooks' group commit.
                await asyncio.sleep(last_alert_pass + _ALERT_PASS_SPACING - time.monotonic())
                last_alert_pass = time.monotonic()
            now = self._clock.now()
            handled = 0
            try:
                if failures:
                    # Claims a failed pass (a database outage) left behind go back now, not when
                    # their lease runs out: an alert among them must not wait a minute.
                    await release_claims(self._engine, self.worker_id)
                if alerts_only:
                    self._alert_pass_started = time.monotonic()
                handled = await self._pass(now, alerts_only=alerts_only)
                if failures:
                    log.info("delivery_passes_resumed", worker=self.worker_id, count=failures)
                failures = 0
            except Exception as exc:  # noqa: BLE001 - the worker outlives a failed pass
                failures += 1
                # Passes fail twice a second through an outage: the first says so, then one
                # line a minute with the count.
                if failures == 1 or time.monotonic() - last_warned >= _FAILURE_LOG_SECONDS:
                    last_warned = time.monotonic()
                    log.warning(
                        "delivery_pass_failed",
                        worker=self.worker_id,
                        error_type=type(exc).__name__,
                        count=failures,
                    )
            if alerts_only:
                self._alert_pass_started, self._alert_pass_failed = None, failures > 0
            if self._stopping:
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), self._pause(now, handled, alerts_only))

    def _pause(self, now: datetime, handled: int, alerts_only: bool) -> float:
        if alerts_only:
            return _ALERT_LANE_BACKSTOP
        if handled >= self._batch_size or self._sent:
            return 0.0
        pause = self._poll
        if self._next_due is not None:
            pause = min(pause, max(0.0, (self._next_due - now).total_seconds()))
        return pause

    async def run_once(self, now: datetime) -> int:
        """One pass at `now`; returns how many claimed rows (or digests) it dealt with."""
        return await self._pass(now, alerts_only=False)

    async def _pass(self, now: datetime, *, alerts_only: bool) -> int:
        if not alerts_only:
            self._next_due = None
            self._sent = 0
            await expire_sending(self._engine, now)
            await self._follow_config(now)
            await inbox_held.release_due(self._engine, now)
            if self._escalate:
                await escalate_alerts(self._engine, self._vault, now)
        claims = await claim_due(
            self._engine,
            worker_id=self.worker_id,
            now=now,
            lease=self._lease,
            limit=self._batch_size,
            alerts_only=alerts_only,
        )
        started = time.monotonic()
        units = digest_units(claims)
        alerts = [lead for lead, others in units if self._goes_as_is(lead, others)]
        handled = await self._alert_batch.send(alerts, now)
        sent = {alert.id for alert in alerts}
        units = [(lead, others) for lead, others in units if lead.id not in sent]
        self._busy_numbers.clear()
        waiting: list[str] = []
        for position, (lead, others) in enumerate(units):
            if self._stopping:
                break
            if lead.priority != PRIORITY_ALERT and lead.from_number in self._busy_numbers:
                # Its number just used its send slot: back to the queue in one statement below,
                # rather than a transaction each to defer it.
                waiting.extend(claim.id for claim in (lead, *others))
                continue
            if time.monotonic() - started > self._lease.total_seconds() / 2:
                # Slow sends used up half the lease, and `now` is getting stale: the rest goes
                # back now rather than its leases running out under this worker.
                await release_claims(
                    self._engine,
                    self.worker_id,
                    [claim.id for unit in units[position:] for claim in (unit[0], *unit[1])],
                )
                break
            await self._handle(lead, others, now)
            handled += 1
        if waiting:
            await release_claims(self._engine, self.worker_id, waiting)
        if not alerts_only:
            await self._retention(now)
            backlog = await due_backlog(self._engine, now)
            self._metrics.outbox_pending.set(backlog.count)
            self._metrics.outbox_oldest_due.set(backlog.oldest_wait(now).total_seconds())
        return handled

    # Alerts, together ---------------------------------------------------------------------

    def _goes_as_is(self, lead: Claim, others: list[Claim]) -> bool:
        """A crisis alert: nothing to check before its send (no opt-out, hours or digest)."""
        return (
            lead.priority == PRIORITY_ALERT
            and lead.state == "claimed"
            and not others
            and not lead.held
            and lead.kind not in TO_CLIENT_KINDS
            and not self._direct.attempted(lead.id)
        )

    # One row (or digest) ------------------------------------------------------------------

    async def _handle(self, lead: Claim, others: list[Claim], now: datetime) -> None:
        try:
            if lead.state == "unknown":
                await self._recorder.reconcile(lead, now)
                return
            if self._direct.sending(lead.id):
                # Its direct send is under way: settled with the outcome in a moment.
                await set_aside(self._engine, self.worker_id, [lead.id], now + _DIRECT_UNDER_WAY)
                self._note_due(now + _DIRECT_UNDER_WAY)
                return
            direct = self._direct.pop(lead.id)
            if direct is not None:
                await self._recorder.settle_direct(lead, direct, now)
                return
            ready = await self._preparer.prepare(lead, others, now)
            if isinstance(ready, NoSlot):
                self._note_due(ready.free_at)
                self._busy_numbers.add(lead.from_number)
                return
            if ready is None:
                return
            lead, sms = ready
            outcome = await self._sender.send(sms)
            self._sent += 1
            await self._recorder.record(lead, outcome, now)
        except DecryptionError as exc:
            await self._recorder.fail_unreadable(lead, now, exc)
        except IntegrityError as exc:
            # This row's record conflicts with another (a bug, not an outage): it waits, and is
            # looked into, while the rows behind it go out.
            log.error("outbox_row_conflict", outbox_id=lead.id, error_type=type(exc).__name__)
            ids = [claim.id for claim in (lead, *others)]
            await set_aside(self._engine, self.worker_id, ids, now + _SET_ASIDE)

    def _note_due(self, at: datetime) -> None:
        if self._next_due is None or at < self._next_due:
            self._next_due = at

    # Held rows follow configuration ----------------------------------------------------------

    async def _follow_config(self, now: datetime) -> None:
        directory = self._config.directory if self._config is not None else None
        if directory is None or directory.version == self._config_version:
            return
        self._metrics.config_version.set(directory.version)
        moved = await follow_availability(self._engine, directory, now)
        moved += await inbox_held.follow_availability(self._engine, directory, now)
        self._config_version = directory.version
        if moved:
            log.info("held_rescheduled", count=moved, version=directory.version)

    # Retention ----------------------------------------------------------------------------

    async def _retention(self, now: datetime) -> None:
        if self._retention_checked is not None and now - self._retention_checked < (
            _RETENTION_CHECK
        ):
            return
        self._retention_checked = now
        if not await claim_run(self._engine, "retention", now, RETENTION_PERIOD):
            return
        purged = await purge_expired_bodies(
            self._engine, now=now, retention_days=self._retention_days, actor="delivery"
        )
        log.info("retention_purged", count=purged, worker=self.worker_id)

    # Crisis alerts while the database is away -------------------------------------------------

    async def alert_directly(self, rows: Sequence[dict[str, Any]]) -> dict[str, DirectAttempt]:
        """Send crisis-alert outbox rows (as built by `gateway.outbox.outbox_row`, sealed)
        straight through the sender, for when they cannot be written to the outbox: best
        effort, logged by row id. When those rows reach the outbox later (from the spool),
        this worker settles them with the outcome instead of alerting a second time."""
        return await self._direct.send(rows)
