"""Crisis alerts sent together, in the alert lane or ahead of the rest of a pass."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import datetime

import structlog

from gateway.crypto import DecryptionError
from gateway.delivery import outcomes
from gateway.delivery.claim import Claim
from gateway.delivery.direct import outcome_name
from gateway.delivery.outbound import Outbound
from gateway.delivery.rate import take_slot
from gateway.delivery.recording import OutcomeRecorder
from gateway.twilio.sender import OutboundSms, Sent, Unknown

log = structlog.get_logger(__name__)


class AlertBatchSender:
    def __init__(self, out: Outbound, recorder: OutcomeRecorder) -> None:
        self._out = out
        self._recorder = recorder

    async def send(self, alerts: list[Claim], now: datetime) -> int:
        """Marked `sending` in one transaction, sent at the same time, recorded in one
        transaction, each in a few statements however many alerts there are: an alert waits
        neither for another's send nor for a commit of its own, and on SQLite the worker holds
        the write lock briefly."""
        if not alerts:
            return 0
        readable: dict[str, tuple[Claim, OutboundSms]] = {}
        for alert in alerts:
            try:
                readable[alert.id] = (
                    alert,
                    self._out.sms(alert),
                )
            except DecryptionError as exc:
                await self._recorder.fail_unreadable(alert, now, exc)
        if not readable:
            return len(alerts)
        async with self._out.engine.begin() as connection:
            marked = await outcomes.mark_alerts_sending(
                connection,
                [alert for alert, _ in readable.values()],
                worker_id=self._out.worker_id,
                now=now,
                lease=self._out.lease,
            )
            numbers = Counter(alert.from_number for alert, _ in readable.values())
            for number, count in numbers.items():
                await take_slot(
                    connection, number, now, self._out.interval, urgent=True, count=count
                )
        for lost in readable.keys() - marked:
            log.warning("outbox_claim_lost", outbox_id=lost, worker=self._out.worker_id)
        ready = [readable[alert_id] for alert_id in readable if alert_id in marked]
        results = await asyncio.gather(
            *(self._out.sender.send(sms) for _, sms in ready), return_exceptions=True
        )
        sent: list[tuple[Claim, str]] = []
        async with self._out.engine.begin() as connection:
            for (alert, _), result in zip(ready, results, strict=True):
                # A send that raised may have reached Twilio: reconciled, never resent blindly.
                outcome = (
                    Unknown(reason=type(result).__name__)
                    if isinstance(result, BaseException)
                    else result
                )
                if isinstance(outcome, Sent):
                    self._out.count(alert, outcome_name(outcome))
                    sent.append((alert, outcome.sid))
                else:
                    await self._recorder.record_in(connection, alert, outcome, now)
            await outcomes.record_alerts_sent(connection, sent, now=now)
        for alert, sid in sent:
            log.info("outbox_sent", outbox_id=alert.id, kind=alert.kind, sid=sid, count=1)
        return len(alerts)
