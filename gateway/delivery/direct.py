"""Crisis alerts sent straight to Twilio while the outbox cannot be written.

The inbound fail-safe hands over the alert rows it could not store. Each outcome is
remembered by row id, so that when the spooled rows reach the outbox later, the worker settles
them with the same SID (or reconciles an unknown outcome) instead of alerting twice.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, assert_never

import structlog

from gateway.clock import Clock
from gateway.crypto import DecryptionError
from gateway.metrics import Metrics
from gateway.twilio.sender import (
    OutboundSms,
    Rejected,
    RetryLater,
    SendOutcome,
    Sent,
    SmsSender,
    Unknown,
)
from gateway.vault import Vault

log = structlog.get_logger(__name__)

_MEMORY: Final = 1000
_ATTEMPTS: Final = 3
_RETRY_CAP_SECONDS: Final = 5.0


@dataclass(frozen=True, slots=True)
class DirectAttempt:
    """`sid` is None when the outcome is unknown. `again`: Twilio certainly did not take it
    (429, 5xx, nothing sent) in a few tries; it is to be tried again, and is not an attempt
    that a row could be settled with."""

    sid: str | None
    at: datetime
    again: bool = False


def outcome_name(outcome: SendOutcome) -> str:
    match outcome:
        case Sent():
            return "sent"
        case RetryLater():
            return "retry_later"
        case Rejected():
            return "rejected"
        case Unknown():
            return "unknown"
        case _:
            assert_never(outcome)


class DirectAlerts:
    def __init__(
        self,
        *,
        vault: Vault,
        sender: SmsSender,
        clock: Clock,
        metrics: Metrics,
        status_callback: str,
    ) -> None:
        self._vault = vault
        self._sender = sender
        self._clock = clock
        self._metrics = metrics
        self._status_callback = status_callback
        self._attempts: OrderedDict[str, DirectAttempt] = OrderedDict()
        self._sending: set[str] = set()

    async def send(self, rows: Sequence[dict[str, Any]]) -> dict[str, DirectAttempt]:
        """A few tries each; outcomes are logged by row id only. Returns, by row id, the
        attempts that may have reached Twilio and those to try again (`again`); a row Twilio
        refused for good or that no key opens is not in it."""
        attempts: dict[str, DirectAttempt] = {}
        for row in rows:
            row_id = str(row["id"])
            try:
                sms = OutboundSms(
                    from_number=str(row["from_number"]),
                    to_number=self._vault.open("outbox", "to", row_id, row["to_enc"]),
                    body=self._vault.open("outbox", "body", row_id, row["body_enc"]),
                    status_callback=self._status_callback,
                )
            except DecryptionError as exc:
                log.error(
                    "direct_alert_unreadable", outbox_id=row_id, error_type=type(exc).__name__
                )
                continue
            self._sending.add(row_id)
            try:
                attempt = await self._send_one(row_id, str(row.get("kind", "alert")), sms)
            finally:
                self._sending.discard(row_id)
            if attempt is not None:
                attempts[row_id] = attempt
        return attempts

    def attempted(self, row_id: str) -> bool:
        return row_id in self._attempts or row_id in self._sending

    def sending(self, row_id: str) -> bool:
        """A direct send of this row is under way: its outcome is not known yet."""
        return row_id in self._sending

    def pop(self, row_id: str) -> DirectAttempt | None:
        """What became of this row's direct send, if it had one; asked once per row."""
        return self._attempts.pop(row_id, None)

    async def _send_one(self, row_id: str, kind: str, sms: OutboundSms) -> DirectAttempt | None:
        for attempt in range(1, _ATTEMPTS + 1):
            at = self._clock.now()
            outcome = await self._sender.send(sms)
            self._metrics.outbound.labels(kind, outcome_name(outcome)).inc()
            match outcome:
                case Sent(sid=sid):
                    self._remember(row_id, DirectAttempt(sid, at))
                    log.info("direct_alert_sent", outbox_id=row_id, sid=sid)
                    return self._attempts[row_id]
                case Unknown():
                    self._remember(row_id, DirectAttempt(None, at))
                    log.warning("direct_alert_unknown", outbox_id=row_id)
                    return self._attempts[row_id]
                case Rejected(code=code, status=status):
                    log.error("direct_alert_failed", outbox_id=row_id, code=code or status)
                    return None
                case RetryLater(retry_after=retry_after):
                    log.warning("direct_alert_retry", outbox_id=row_id, attempt=attempt)
                    if attempt < _ATTEMPTS:
                        await asyncio.sleep(min(retry_after or 1.0, _RETRY_CAP_SECONDS))
                case _:
                    assert_never(outcome)
        log.warning("direct_alert_not_taken", outbox_id=row_id, attempt=_ATTEMPTS)
        return DirectAttempt(None, self._clock.now(), again=True)

    def _remember(self, row_id: str, attempt: DirectAttempt) -> None:
        self._attempts[row_id] = attempt
        while len(self._attempts) > _MEMORY:
            self._attempts.popitem(last=False)
