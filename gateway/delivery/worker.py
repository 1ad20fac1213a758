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
from collections import Counter
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, Final, assert_never

import structlog
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from gateway.clock import Clock
from gateway.config_cache import ConfigCache
from gateway.crypto import DecryptionError
from gateway.db.tables import OptOutRow
from gateway.delivery import outcomes
from gateway.delivery.alerts import escalate_alerts
from gateway.delivery.availability import (
    NoOpening,
    NotConfigured,
    OpensAt,
    ReachableNow,
    availability,
)
from gateway.delivery.backoff import retry_delay
from gateway.delivery.claim import (
    Claim,
    claim_due,
    due_backlog,
    expire_sending,
    release_claims,
)
from gateway.delivery.digest import merge
from gateway.delivery.direct import DirectAlerts, DirectAttempt, outcome_name
from gateway.delivery.held import follow_availability
from gateway.delivery.periodic import claim_run
from gateway.delivery.rate import send_interval, take_slot
from gateway.metrics import Metrics
from gateway.outbox import PRIORITY_ALERT
from gateway.retention import purge_expired_bodies
from gateway.settings import Settings
from gateway.twilio.sender import (
    OutboundSms,
    ReconciliationError,
    Rejected,
    RetryLater,
    SendOutcome,
    Sent,
    SmsSender,
    Unknown,
)
from gateway.vault import Vault

log = structlog.get_logger(__name__)

BATCH_SIZE: Final = 20
# An unknown outcome is first looked up after this long, and again every RECHECK after that.
# It is sent again only once Twilio has said "no such message" at least MIN_ASKS times and
# GRACE has passed since the attempt: a message still in Twilio's queue can be missing from
# its message list for a short while.
FIRST_CHECK: Final = timedelta(seconds=15)
RECHECK: Final = timedelta(seconds=30)
GRACE: Final = timedelta(minutes=2)
MIN_ASKS: Final = 2
RETENTION_PERIOD: Final = timedelta(hours=24)
# How often a worker asks the database whether the daily job is due.
_RETENTION_CHECK: Final = timedelta(minutes=10)
_ALERT_LANE_BACKSTOP: Final = 5.0
_ALERT_PASS_SPACING: Final = 0.05
_CLAIMED_BY_LENGTH: Final = 64


class _LostClaimError(Exception):
    """The row's lease ran out and another worker took it over: leave it to that worker."""


def _default_worker_id() -> str:
    worker_id = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
    return worker_id[-_CLAIMED_BY_LENGTH:]


def _units(claims: Sequence[Claim]) -> list[tuple[Claim, list[Claim]]]:
    """Claims in sending order, held ones of one client and therapist together: the oldest
    leads and the rest may ride along in its digest."""
    units: list[tuple[Claim, list[Claim]]] = []
    groups: dict[tuple[str, str, str, str, str], list[Claim]] = {}
    for claim in claims:
        key = claim.digest_key
        if key is None or claim.state != "claimed":
            units.append((claim, []))
        elif key in groups:
            groups[key].append(claim)
        else:
            groups[key] = [claim]
            units.append((claim, groups[key]))
    ordered: list[tuple[Claim, list[Claim]]] = []
    for claim, group in units:
        if not group:
            ordered.append((claim, []))
            continue
        lead, *others = sorted(group, key=lambda item: (item.created_at, item.id))
        ordered.append((lead, others))
    return ordered


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
        # Jitter only spreads retries; it needs no cryptographic strength.
        self._rng = rng or random.Random()  # noqa: S311
        self._interval = send_interval(settings.send_rate)
        self._status_callback = settings.public_url + "/twilio/status"
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
        self._direct = DirectAlerts(
            vault=vault,
            sender=sender,
            clock=clock,
            metrics=metrics,
            status_callback=self._status_callback,
        )

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

    def wake_alerts(self) -> None:
        """Crisis alerts were committed: they go at once; the rest waits for the next poll."""
        self._alert_wake.set()

    async def stop(self) -> None:
        """Let the send in flight finish, then give back what was claimed and not sent."""
        self._stopping = True
        self.wake()
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
        failed = False
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
                if failed:
                    # Claims a failed pass (a database outage) left behind go back now, not when
                    # their lease runs out: an alert among them must not wait a minute.
                    await release_claims(self._engine, self.worker_id)
                handled = await self._pass(now, alerts_only=alerts_only)
                failed = False
            except Exception as exc:  # noqa: BLE001 - the worker outlives a failed pass
                failed = True
                log.warning(
                    "delivery_pass_failed", worker=self.worker_id, error_type=type(exc).__name__
                )
            if self._stopping:
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), self._pause(now, handled, alerts_only))

    def _pause(self, now: datetime, handled: int, alerts_only: bool) -> float:
        if alerts_only:
            return _ALERT_LANE_BACKSTOP
        if handled >= self._batch_size:
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
            await expire_sending(self._engine, now)
            await self._follow_config(now)
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
        units = _units(claims)
        alerts = [lead for lead, others in units if self._goes_as_is(lead, others)]
        handled = await self._send_alerts(alerts, now)
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
            and lead.kind not in outcomes.TO_CLIENT_KINDS
            and not self._direct.attempted(lead.id)
        )

    async def _send_alerts(self, alerts: list[Claim], now: datetime) -> int:
        """Marked `sending` in one transaction, sent at the same time, recorded in one
        transaction, each in a few statements however many alerts there are: an alert waits
        neither for another's send nor for a commit of its own, and on SQLite the worker holds
        the write lock briefly."""
        if not alerts:
            return 0
        readable: dict[str, tuple[Claim, OutboundSms]] = {}
        for alert in alerts:
            try:
                readable[alert.id] = (alert, self._outbound(alert))
            except DecryptionError as exc:
                await self._fail_unreadable(alert, now, exc)
        if not readable:
            return len(alerts)
        async with self._engine.begin() as connection:
            marked = await outcomes.mark_alerts_sending(
                connection,
                [alert for alert, _ in readable.values()],
                worker_id=self.worker_id,
                now=now,
                lease=self._lease,
            )
            numbers = Counter(alert.from_number for alert, _ in readable.values())
            for number, count in numbers.items():
                await take_slot(connection, number, now, self._interval, urgent=True, count=count)
        for lost in readable.keys() - marked:
            log.warning("outbox_claim_lost", outbox_id=lost, worker=self.worker_id)
        ready = [readable[alert_id] for alert_id in readable if alert_id in marked]
        results = await asyncio.gather(
            *(self._sender.send(sms) for _, sms in ready), return_exceptions=True
        )
        sent: list[tuple[Claim, str]] = []
        async with self._engine.begin() as connection:
            for (alert, _), result in zip(ready, results, strict=True):
                # A send that raised may have reached Twilio: reconciled, never resent blindly.
                outcome = (
                    Unknown(reason=type(result).__name__)
                    if isinstance(result, BaseException)
                    else result
                )
                if isinstance(outcome, Sent):
                    self._count(alert, outcome_name(outcome))
                    sent.append((alert, outcome.sid))
                else:
                    await self._record_in(connection, alert, outcome, now)
            await outcomes.record_alerts_sent(connection, sent, now=now)
        for alert, sid in sent:
            log.info("outbox_sent", outbox_id=alert.id, kind=alert.kind, sid=sid, count=1)
        return len(alerts)

    # One row (or digest) ------------------------------------------------------------------

    async def _handle(self, lead: Claim, others: list[Claim], now: datetime) -> None:
        try:
            if lead.state == "unknown":
                await self._reconcile(lead, now)
                return
            direct = self._direct.pop(lead.id)
            if direct is not None:
                await self._settle_direct(lead, direct, now)
                return
            ready = await self._prepare(lead, others, now)
            if ready is None:
                return
            lead, sms = ready
            outcome = await self._sender.send(sms)
            await self._record(lead, outcome, now)
        except DecryptionError as exc:
            await self._fail_unreadable(lead, now, exc)

    async def _fail_unreadable(self, claim: Claim, now: datetime, exc: DecryptionError) -> None:
        # A row no key opens will never be sent; failing it keeps it from blocking others.
        log.error("outbox_unreadable", outbox_id=claim.id, error_type=type(exc).__name__)
        async with self._engine.begin() as connection:
            await outcomes.fail_unreadable(connection, claim, now=now)

    def _outbound(self, claim: Claim) -> OutboundSms:
        body = (
            self._vault.open("outbox", "body", claim.id, claim.body_enc)
            if claim.body_enc is not None
            else ""
        )
        return OutboundSms(
            from_number=claim.from_number,
            to_number=self._vault.open("outbox", "to", claim.id, claim.to_enc),
            body=body,
            status_callback=self._status_callback,
        )

    async def _prepare(
        self, lead: Claim, others: list[Claim], now: datetime
    ) -> tuple[Claim, OutboundSms] | None:
        """Everything decided before the send, in one transaction: the row is cancelled,
        moved, deferred, or marked `sending` with a send slot taken. Returns the row to send
        (with its digest text, if others were merged into it) and its SMS, or None."""
        try:
            async with self._engine.begin() as connection:
                if lead.kind in outcomes.TO_CLIENT_KINDS:
                    opted_out = (
                        await connection.execute(
                            select(OptOutRow.opted_out).where(
                                OptOutRow.phone_index == lead.to_index
                            )
                        )
                    ).scalar_one_or_none()
                    if opted_out:
                        await outcomes.cancel(
                            connection,
                            lead,
                            reason="recipient opted out",
                            code="opted_out",
                            now=now,
                        )
                        self._count(lead, "cancelled")
                        log.info("outbox_cancelled", outbox_id=lead.id, kind=lead.kind)
                        return None
                directory = self._config.directory if self._config is not None else None
                if lead.held and directory is not None:
                    match availability(directory, lead.therapist_id, lead.client_id, now):
                        case OpensAt(at=at):
                            for claim in (lead, *others):
                                await outcomes.reschedule(connection, claim, due_at=at, now=now)
                            log.info(
                                "outbox_rescheduled",
                                outbox_id=lead.id,
                                count=1 + len(others),
                                deliver_at=at.isoformat(),
                            )
                            return None
                        case NoOpening():
                            for claim in (lead, *others):
                                await outcomes.unhold(connection, claim, now=now)
                            self._count(lead, "cancelled")
                            return None
                        case ReachableNow() | NotConfigured():
                            pass
                if others:
                    lead, rest = await merge(connection, self._vault, lead, others)
                    for claim in rest:
                        # Another digest takes them, in the next pass.
                        await outcomes.defer(connection, claim, due_at=now)
                sms = self._outbound(lead)
                if not await outcomes.mark_sending(
                    connection, lead, worker_id=self.worker_id, now=now, lease=self._lease
                ):
                    raise _LostClaimError
                free_at = await take_slot(
                    connection,
                    lead.from_number,
                    now,
                    self._interval,
                    urgent=lead.priority == PRIORITY_ALERT,
                )
                if free_at is not None:
                    await outcomes.defer(connection, lead, due_at=free_at)
                    self._note_due(free_at)
                    self._busy_numbers.add(lead.from_number)
                    return None
        except _LostClaimError:
            log.warning("outbox_claim_lost", outbox_id=lead.id, worker=self.worker_id)
            return None
        return lead, sms

    def _note_due(self, at: datetime) -> None:
        if self._next_due is None or at < self._next_due:
            self._next_due = at

    async def _record(self, claim: Claim, outcome: SendOutcome, now: datetime) -> None:
        async with self._engine.begin() as connection:
            await self._record_in(connection, claim, outcome, now)

    async def _record_in(
        self, connection: AsyncConnection, claim: Claim, outcome: SendOutcome, now: datetime
    ) -> None:
        self._count(claim, outcome_name(outcome))
        match outcome:
            case Sent(sid=sid):
                await outcomes.record_sent(connection, claim, sid, now=now, sent_at=now)
                log.info(
                    "outbox_sent",
                    outbox_id=claim.id,
                    kind=claim.kind,
                    sid=sid,
                    count=len(claim.ids),
                )
            case RetryLater(reason=reason, retry_after=retry_after):
                delay = retry_delay(
                    claim.attempts + 1,
                    retry_after=retry_after,
                    jitter=self._rng.random(),
                    urgent=claim.priority == PRIORITY_ALERT,
                )
                await outcomes.record_retry(connection, claim, due_at=now + delay, error=reason)
                self._note_due(now + delay)
                log.info(
                    "outbox_retry_later",
                    outbox_id=claim.id,
                    kind=claim.kind,
                    attempt=claim.attempts + 1,
                    retry_in=delay.total_seconds(),
                )
            case Rejected(code=code, status=status):
                cancelled = await outcomes.record_rejected(
                    connection, claim, code=code, status=status, now=now
                )
                log.warning(
                    "outbox_failed",
                    outbox_id=claim.id,
                    kind=claim.kind,
                    code=code or status,
                    count=len(cancelled),
                )
            case Unknown(reason=reason):
                # Not sent again blindly: the request may have reached Twilio, and a second
                # copy of a forward or reply would put health information on a phone twice.
                # Twilio's message list is asked first (see _reconcile).
                await outcomes.record_unknown(
                    connection,
                    claim,
                    attempt_at=now,
                    check_at=now + FIRST_CHECK,
                    error=reason,
                )
                log.warning("outbox_outcome_unknown", outbox_id=claim.id, kind=claim.kind)
            case _:
                assert_never(outcome)

    async def _reconcile(self, claim: Claim, now: datetime) -> None:
        delivery: dict[str, Any] = claim.details.get("delivery", {})
        raw_attempt = delivery.get("attempt_at")
        attempt_at = datetime.fromisoformat(raw_attempt) if raw_attempt else claim.due_at
        asks = int(delivery.get("asks", 0))
        asked = True
        try:
            sid = await self._sender.find_sent(self._outbound(claim), attempt_at)
        except ReconciliationError:
            sid, asked = None, False
        async with self._engine.begin() as connection:
            if sid is not None:
                await outcomes.record_sent(connection, claim, sid, now=now, sent_at=attempt_at)
                self._count(claim, "reconciled")
                log.info("outbox_reconciled", outbox_id=claim.id, kind=claim.kind, sid=sid)
                return
            asks += int(asked)
            if asks >= MIN_ASKS and now - attempt_at >= GRACE:
                await outcomes.requeue(connection, claim, now=now)
                log.info("outbox_requeued", outbox_id=claim.id, kind=claim.kind, count=asks)
                return
            await outcomes.still_unknown(connection, claim, asks=asks, check_at=now + RECHECK)

    def _count(self, claim: Claim, outcome: str) -> None:
        self._metrics.outbound.labels(claim.kind, outcome).inc()

    # Held rows follow configuration ----------------------------------------------------------

    async def _follow_config(self, now: datetime) -> None:
        directory = self._config.directory if self._config is not None else None
        if directory is None or directory.version == self._config_version:
            return
        moved = await follow_availability(self._engine, directory, now)
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

    async def _settle_direct(self, claim: Claim, attempt: DirectAttempt, now: datetime) -> None:
        async with self._engine.begin() as connection:
            if attempt.sid is not None:
                await outcomes.record_sent(
                    connection, claim, attempt.sid, now=now, sent_at=attempt.at
                )
            else:
                await outcomes.record_unknown(
                    connection,
                    claim,
                    attempt_at=attempt.at,
                    check_at=now,
                    error="direct alert outcome unknown",
                )
        log.info("direct_alert_settled", outbox_id=claim.id, sid=attempt.sid)
