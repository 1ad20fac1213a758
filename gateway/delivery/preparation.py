"""A claimed row made ready for its send: opt-out, availability, digest and send slot."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.config_cache import ConfigCache
from gateway.db.tables import OptOutRow
from gateway.delivery import outcomes
from gateway.delivery.availability import (
    NoOpening,
    NotConfigured,
    OpensAt,
    ReachableNow,
    availability,
)
from gateway.delivery.claim import Claim
from gateway.delivery.digest import merge
from gateway.delivery.outbound import count_outcome, outbound_sms
from gateway.delivery.rate import take_slot
from gateway.metrics import Metrics
from gateway.outbox import PRIORITY_ALERT
from gateway.twilio.sender import OutboundSms
from gateway.vault import Vault

log = structlog.get_logger(__name__)


class _LostClaimError(Exception):
    """The row's lease ran out and another worker took it over: leave it to that worker."""


@dataclass(frozen=True, slots=True)
class NoSlot:
    """The row's sending number just used its send slot: the row was deferred to `free_at`."""

    free_at: datetime


class Preparer:
    def __init__(
        self,
        *,
        engine: AsyncEngine,
        vault: Vault,
        metrics: Metrics,
        config: ConfigCache | None,
        worker_id: str,
        lease: timedelta,
        interval: timedelta,
        status_callback: str,
    ) -> None:
        self._engine = engine
        self._vault = vault
        self._metrics = metrics
        self._config = config
        self._worker_id = worker_id
        self._lease = lease
        self._interval = interval
        self._status_callback = status_callback

    async def prepare(
        self, lead: Claim, others: list[Claim], now: datetime
    ) -> tuple[Claim, OutboundSms] | NoSlot | None:
        """Everything decided before the send, in one transaction: the row is cancelled,
        moved, deferred, or marked `sending` with a send slot taken. Returns the row to send
        (with its digest text, if others were merged into it) and its SMS, NoSlot when it was
        deferred for want of a send slot, or None."""
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
                        count_outcome(self._metrics, lead, "cancelled")
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
                            count_outcome(self._metrics, lead, "cancelled")
                            return None
                        case ReachableNow() | NotConfigured():
                            pass
                if others:
                    lead, rest = await merge(connection, self._vault, lead, others)
                    for claim in rest:
                        # Another digest takes them, in the next pass.
                        await outcomes.defer(connection, claim, due_at=now)
                sms = outbound_sms(self._vault, lead, self._status_callback)
                if not await outcomes.mark_sending(
                    connection, lead, worker_id=self._worker_id, now=now, lease=self._lease
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
                    return NoSlot(free_at)
        except _LostClaimError:
            log.warning("outbox_claim_lost", outbox_id=lead.id, worker=self._worker_id)
            return None
        return lead, sms
