"""Crisis alert escalation.

An alert that is not reported delivered ten minutes after it was sent is sent once more to
the same on-call number; if that one too is not delivered ten minutes later, a copy goes to
the therapist's own phone (`forward_to`). An alert that Twilio refused, or reported
undelivered, goes to the own phone without waiting (the on-call phone is off or cannot take
it; with no own phone, as for the practice's on-call, to the same number again). Repeats say
so, so that they are not taken for new crises.

Escalation rows get ids derived from the row they escalate, so that workers racing to
escalate the same alert insert one row between them.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any, Final

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from gateway.audit.store import AuditEvent, append_events
from gateway.db.engine import reader
from gateway.db.tables import OutboxRow, TherapistRow
from gateway.db.upserts import insert_ignoring_conflicts
from gateway.outbox import outbox_row
from gateway.vault import Vault

log = structlog.get_logger(__name__)

ESCALATE_AFTER: Final = timedelta(minutes=10)
REPEAT: Final = "Repeat, no delivery report yet: "
NOT_DELIVERED: Final = "Repeat, the alert to on-call was not delivered: "
LAST_STEP: Final = 2
# Alerts older than this are not escalated any more: by then a person has looked, or the
# problem is not one a further text can fix.
_LOOKBACK: Final = timedelta(hours=6)
_DELIVERED: Final = frozenset({"delivered", "read"})
_UNDELIVERED: Final = frozenset({"undelivered", "failed"})
_NAMESPACE: Final = uuid.UUID("5d0c1c1e-3a55-4e38-9d0e-6d1f0a8f6a11")


def escalation_id(alert_id: str, step: int) -> str:
    return uuid.uuid5(_NAMESPACE, f"{alert_id}/escalation/{step}").hex


def _next_step(row: Any, now: datetime) -> int | None:
    step = int((row.details or {}).get("escalation", 0))
    if step >= LAST_STEP or row.delivery_status in _DELIVERED:
        return None
    if row.state == "failed":
        # Twilio refused it: the same number would refuse again.
        return LAST_STEP
    if row.state != "sent":
        return None
    if row.delivery_status in _UNDELIVERED:
        return LAST_STEP if row.therapist_id is not None else step + 1
    if row.sent_at is not None and row.sent_at + ESCALATE_AFTER <= now:
        return step + 1
    return None


async def _forward_to(connection: AsyncConnection, vault: Vault, therapist_id: str) -> str | None:
    enc = (
        await connection.execute(
            select(TherapistRow.forward_to_enc).where(TherapistRow.id == therapist_id)
        )
    ).scalar_one_or_none()
    return vault.open("therapists", "forward_to", therapist_id, enc) if enc is not None else None


async def _escalate(
    connection: AsyncConnection, vault: Vault, row: Any, step: int, now: datetime
) -> str | None:
    if step == LAST_STEP:
        if row.therapist_id is None:
            # The practice's on-call number was alerted: there is no own phone to add.
            return None
        to_number = await _forward_to(connection, vault, row.therapist_id)
        if to_number is None:
            return None
    else:
        to_number = vault.open("outbox", "to", row.id, row.to_enc)
    body = vault.open("outbox", "body", row.id, row.body_enc) if row.body_enc else None
    if body is None:
        return None
    # Read as a repeat of one alert, not as a second crisis; and why it is repeated.
    body = body.removeprefix(REPEAT).removeprefix(NOT_DELIVERED)
    not_delivered = row.state == "failed" or row.delivery_status in _UNDELIVERED
    body = (NOT_DELIVERED if not_delivered else REPEAT) + body
    new_id = escalation_id(row.id, step)
    values = outbox_row(
        vault,
        kind="alert",
        from_number=row.from_number,
        to_number=to_number,
        body=body,
        due_at=now,
        now=now,
        message_id=row.message_id,
        therapist_id=row.therapist_id,
        client_id=row.client_id,
        details={"escalation": step, "escalates": row.id},
    )
    # Sealed values are bound to their row id, so they are sealed again for the derived id.
    values.update(
        id=new_id,
        to_enc=vault.seal("outbox", "to", new_id, to_number),
        body_enc=vault.seal("outbox", "body", new_id, body),
    )
    inserted = await connection.execute(
        insert_ignoring_conflicts(connection, OutboxRow).values(values).returning(OutboxRow.id)
    )
    if inserted.first() is None:
        return None
    await append_events(
        connection,
        [
            AuditEvent(
                now,
                "delivery",
                "alert_escalated",
                f"outbox:{new_id}",
                {"escalates": row.id, "step": step},
            )
        ],
    )
    return new_id


async def escalate_alerts(engine: AsyncEngine, vault: Vault, now: datetime) -> list[str]:
    """Queue the escalations that are due at `now`; returns the new rows' ids."""
    async with reader(engine).connect() as connection:
        alerts = list(
            await connection.execute(
                select(OutboxRow).where(
                    OutboxRow.kind == "alert",
                    OutboxRow.state.in_(("sent", "failed")),
                    OutboxRow.created_at >= now - _LOOKBACK,
                )
            )
        )
        due = [(row, step) for row in alerts if (step := _next_step(row, now)) is not None]
        if not due:
            return []
        existing = set(
            (
                await connection.execute(
                    select(OutboxRow.id).where(
                        OutboxRow.id.in_([escalation_id(row.id, step) for row, step in due])
                    )
                )
            ).scalars()
        )
    created: list[str] = []
    for row, step in due:
        if escalation_id(row.id, step) in existing:
            continue
        async with engine.begin() as connection:
            new_id = await _escalate(connection, vault, row, step, now)
        if new_id is not None:
            created.append(new_id)
            log.warning("alert_escalated", outbox_id=new_id, attempt=step)
    return created
