"""Delivery status callbacks: recorded once per (MessageSid, status), applied monotonically."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.audit.store import AuditEvent
from gateway.db.tables import MessageRow, OutboxRow, StatusEventRow
from gateway.db.upserts import insert_ignoring_conflicts
from gateway.outbox import TO_THERAPIST_KINDS

FINAL: Final = frozenset({"delivered", "undelivered", "failed", "canceled", "read"})
_RANK: Final = {
    "accepted": 1,
    "scheduled": 1,
    "queued": 2,
    "sending": 3,
    "sent": 4,
    "receiving": 4,
    "received": 5,
}


# A forward or notice the therapist's phone never got: its messages say so in the inbox, or
# they would read "forwarded" for ever.
_NOT_DELIVERED: Final = ("undelivered", "failed")
FORWARD_FAILED: Final = "forward_failed"


async def _mark_forward_failed(connection: AsyncConnection, sid: str) -> None:
    forwarded = select(OutboxRow.message_id).where(
        OutboxRow.sid == sid,
        OutboxRow.kind.in_(TO_THERAPIST_KINDS),
        OutboxRow.message_id.is_not(None),
    )
    await connection.execute(
        update(MessageRow)
        .where(MessageRow.id.in_(forwarded), MessageRow.status == "forwarded")
        .values(status=FORWARD_FAILED)
    )


def advances(current: str | None, new: str) -> bool:
    """Whether `new` may replace `current`: a final status never moves, others only forward
    (callbacks arrive out of order)."""
    if current in FINAL:
        return False
    if new in FINAL:
        return True
    return _RANK.get(new, 0) >= _RANK.get(current or "", 0)


@dataclass(frozen=True, slots=True)
class StatusJob:
    sid: str
    status: str
    error_code: int | None
    at: datetime

    @classmethod
    async def write_many(
        cls, connection: AsyncConnection, jobs: Sequence[StatusJob]
    ) -> list[tuple[bool, list[AuditEvent]]]:
        # Callbacks are few next to inbound messages: one by one is fast enough.
        return [await job.write(connection) for job in jobs]

    async def write(self, connection: AsyncConnection) -> tuple[bool, list[AuditEvent]]:
        inserted = await connection.execute(
            insert_ignoring_conflicts(connection, StatusEventRow)
            .values(
                sid=self.sid, status=self.status, error_code=self.error_code, received_at=self.at
            )
            .returning(StatusEventRow.id)
        )
        if inserted.first() is None:
            return False, []
        current = (
            await connection.execute(
                select(OutboxRow.id, OutboxRow.delivery_status).where(OutboxRow.sid == self.sid)
            )
        ).first()
        if current is not None and advances(current.delivery_status, self.status):
            await connection.execute(
                update(OutboxRow)
                .where(OutboxRow.id == current.id)
                .values(delivery_status=self.status)
            )
        message = (
            await connection.execute(
                select(MessageRow.id, MessageRow.status).where(
                    MessageRow.sid == self.sid, MessageRow.direction == "outbound"
                )
            )
        ).first()
        if message is not None and advances(message.status, self.status):
            await connection.execute(
                update(MessageRow).where(MessageRow.id == message.id).values(status=self.status)
            )
        if self.status in _NOT_DELIVERED:
            await _mark_forward_failed(connection, self.sid)
        details: dict[str, str | int | None] = {
            "status": self.status,
            "error_code": self.error_code,
        }
        return True, [AuditEvent(self.at, "twilio", "status_changed", f"sid:{self.sid}", details)]
