"""What became of each send, written to the outbox: sent, to retry later, rejected, or
unknown and then reconciled with Twilio's message list. Also settles rows whose crisis alert
went out directly during a database outage, and fails rows that no key opens."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, Final, assert_never

import structlog
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.crypto import DecryptionError
from gateway.delivery import outcomes
from gateway.delivery.backoff import retry_delay
from gateway.delivery.claim import Claim
from gateway.delivery.direct import DirectAttempt, outcome_name
from gateway.delivery.outbound import Outbound
from gateway.outbox import PRIORITY_ALERT
from gateway.twilio.sender import (
    ReconciliationError,
    ReconciliationRefusedError,
    Rejected,
    RetryLater,
    SendOutcome,
    Sent,
    Unknown,
)

log = structlog.get_logger(__name__)

# An unknown outcome is first looked up after this long, and again every RECHECK after that.
# It is sent again only once Twilio has said "no such message" at least MIN_ASKS times and
# GRACE has passed since the attempt: a message still in Twilio's queue can be missing from
# its message list for a short while.
FIRST_CHECK: Final = timedelta(seconds=15)
RECHECK: Final = timedelta(seconds=30)
GRACE: Final = timedelta(minutes=2)
MIN_ASKS: Final = 2
# A crisis alert is asked about sooner and sent again after a shorter grace: a second alert
# costs an on-call clinician a glance, a late one costs the minutes that matter.
ALERT_CHECK: Final = timedelta(seconds=5)
ALERT_GRACE: Final = timedelta(seconds=10)


def _checks(claim: Claim) -> tuple[timedelta, timedelta, timedelta]:
    """When an unknown outcome is first looked up, how often after that, and the grace."""
    if claim.priority == PRIORITY_ALERT:
        return ALERT_CHECK, ALERT_CHECK, ALERT_GRACE
    return FIRST_CHECK, RECHECK, GRACE


class OutcomeRecorder:
    """`note_due` hears of each retry's due time, so the worker can look again by then."""

    def __init__(
        self, out: Outbound, *, rng: random.Random, note_due: Callable[[datetime], None]
    ) -> None:
        self._out = out
        self._rng = rng
        self._note_due = note_due

    async def record(self, claim: Claim, outcome: SendOutcome, now: datetime) -> None:
        async with self._out.engine.begin() as connection:
            await self.record_in(connection, claim, outcome, now)

    async def record_in(
        self, connection: AsyncConnection, claim: Claim, outcome: SendOutcome, now: datetime
    ) -> None:
        self._out.count(claim, outcome_name(outcome))
        match outcome:
            case Sent(sid=sid):
                await outcomes.record_sent(connection, claim, sid, now=now, sent_at=now)
                # A send that had to be tried again going through means Twilio is back.
                recovered = claim.attempts > 0 and claim.priority != PRIORITY_ALERT
                if recovered and await outcomes.hasten_waiting_alerts(connection, now):
                    self._note_due(now)
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
                # Twilio's message list is asked first (see `reconcile`).
                await outcomes.record_unknown(
                    connection,
                    claim,
                    attempt_at=now,
                    check_at=now + _checks(claim)[0],
                    error=reason,
                )
                log.warning("outbox_outcome_unknown", outbox_id=claim.id, kind=claim.kind)
            case _:
                assert_never(outcome)

    async def reconcile(self, claim: Claim, now: datetime) -> None:
        delivery: dict[str, Any] = claim.details.get("delivery", {})
        raw_attempt = delivery.get("attempt_at")
        attempt_at = datetime.fromisoformat(raw_attempt) if raw_attempt else claim.due_at
        asks = int(delivery.get("asks", 0))
        asked = True
        try:
            taken = await outcomes.sids_of_others(self._out.engine, claim)
            sid = await self._out.sender.find_sent(self._out.sms(claim), attempt_at, exclude=taken)
        except ReconciliationRefusedError:
            # An API that will never list messages (a 4xx) would hold the row for ever: its
            # refusal counts as an answer, and the row goes again after the grace. Twilio
            # itself lists messages for the credentials that send them.
            sid = None
        except ReconciliationError:
            sid, asked = None, False
        async with self._out.engine.begin() as connection:
            if sid is not None:
                await outcomes.record_sent(connection, claim, sid, now=now, sent_at=attempt_at)
                self._out.count(claim, "reconciled")
                log.info("outbox_reconciled", outbox_id=claim.id, kind=claim.kind, sid=sid)
                return
            _, recheck, grace = _checks(claim)
            asks += int(asked)
            if asks >= MIN_ASKS and now - attempt_at >= grace:
                await outcomes.requeue(connection, claim, now=now)
                log.info("outbox_requeued", outbox_id=claim.id, kind=claim.kind, count=asks)
                return
            await outcomes.still_unknown(
                connection, claim, asks=asks, check_at=now + recheck, attempt_at=attempt_at
            )

    async def settle_direct(self, claim: Claim, attempt: DirectAttempt, now: datetime) -> None:
        """The row's crisis alert already went out directly: it is settled with that
        attempt's outcome, not sent a second time."""
        async with self._out.engine.begin() as connection:
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

    async def fail_unreadable(self, claim: Claim, now: datetime, exc: DecryptionError) -> None:
        # A row no key opens will never be sent; failing it keeps it from blocking others.
        log.error("outbox_unreadable", outbox_id=claim.id, error_type=type(exc).__name__)
        async with self._out.engine.begin() as connection:
            await outcomes.fail_unreadable(connection, claim, now=now)
