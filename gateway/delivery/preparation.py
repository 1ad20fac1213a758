"""A claimed row made ready for its send: opt-out, availability, digest and send slot."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.config_cache import ConfigCache
from gateway.db.tables import OptOutRow
from gateway.delivery import outcomes
from gateway.delivery.addressing import Withdrawn, as_configured
from gateway.delivery.availability import (
    NoOpening,
    NotConfigured,
    OpensAt,
    ReachableNow,
    availability_of_send,
)
from gateway.delivery.claim import Claim
from gateway.delivery.digest import merge
from gateway.delivery.outbound import Outbound
from gateway.delivery.rate import take_slot
from gateway.outbox import PRIORITY_ALERT, TO_CLIENT_KINDS
from gateway.twilio.sender import OutboundSms

log = structlog.get_logger(__name__)


class _LostClaimError(Exception):
    """The row's lease ran out and another worker took it over: leave it to that worker."""


@dataclass(frozen=True, slots=True)
class NoSlot:
    """The row's sending number just used its send slot: the row was deferred to `free_at`."""

    free_at: datetime


class Preparer:
    def __init__(self, out: Outbound, config: ConfigCache | None) -> None:
        self._out = out
        self._config = config

    async def prepare(
        self, lead: Claim, others: list[Claim], now: datetime
    ) -> tuple[Claim, OutboundSms] | NoSlot | None:
        """Everything decided before the send, in one transaction: the row is cancelled,
        moved, deferred, or marked `sending` with a send slot taken. Returns the row to send
        (with its digest text, if others were merged into it) and its SMS, NoSlot when it was
        deferred for want of a send slot, or None."""
        try:
            async with self._out.engine.begin() as connection:
                directory = self._config.directory if self._config is not None else None
                if directory is not None:
                    current = await as_configured(connection, self._out.vault, directory, lead, now)
                    if isinstance(current, Withdrawn):
                        await self._withdraw(connection, (lead, *others), current, now)
                        return None
                    lead = current
                if lead.kind in TO_CLIENT_KINDS:
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
                        self._out.count(lead, "cancelled")
                        log.info("outbox_cancelled", outbox_id=lead.id, kind=lead.kind)
                        return None
                if lead.held and directory is not None:
                    match availability_of_send(
                        directory, lead.kind, lead.therapist_id, lead.client_id, now
                    ):
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
                                await outcomes.park(connection, claim, now=now)
                            log.info("outbox_parked", outbox_id=lead.id, count=1 + len(others))
                            return None
                        case ReachableNow() | NotConfigured():
                            pass
                if others:
                    lead, rest = await merge(connection, self._out.vault, lead, others)
                    for claim in rest:
                        # Another digest takes them, in the next pass.
                        await outcomes.defer(connection, claim, due_at=now)
                sms = self._out.sms(lead)
                if not await outcomes.mark_sending(
                    connection, lead, worker_id=self._out.worker_id, now=now, lease=self._out.lease
                ):
                    raise _LostClaimError
                free_at = await take_slot(
                    connection,
                    lead.from_number,
                    now,
                    self._out.interval,
                    urgent=lead.priority == PRIORITY_ALERT,
                )
                if free_at is not None:
                    # Back in the queue where it stood: the busy number keeps it from being
                    # claimed until `free_at`, and a later due time would let rows written
                    # after it overtake it.
                    await outcomes.defer(connection, lead, due_at=lead.due_at)
                    return NoSlot(free_at)
        except _LostClaimError:
            log.warning("outbox_claim_lost", outbox_id=lead.id, worker=self._out.worker_id)
            return None
        return lead, sms

    async def _withdraw(
        self, connection: AsyncConnection, claims: Sequence[Claim], why: Withdrawn, now: datetime
    ) -> None:
        for claim in claims:
            await outcomes.cancel(
                connection,
                claim,
                reason=why.reason,
                code=why.code,
                now=now,
                forward_status="received",
            )
            self._out.count(claim, "cancelled")
        log.info("outbox_withdrawn", outbox_id=claims[0].id, count=len(claims), code=why.code)
