"""Held messages that nothing is sent for (`forward = "none"`, the inbox only).

No outbox row carries them to their opening, so they are released here when it comes (they
read `received`, as such a message does in hours), and they follow changes of availability as
held sends do.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Final

from sqlalchemy import ColumnElement, and_, exists, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from gateway.audit.chain import JSONValue
from gateway.audit.store import AuditEvent, append_each, append_events
from gateway.clock import utc_iso
from gateway.db.engine import reader
from gateway.db.tables import MessageRow, OutboxRow
from gateway.delivery.availability import NoOpening, OpensAt, ReachableNow, availability
from gateway.directory import Directory
from gateway.outbox import TO_THERAPIST_KINDS

ACTOR: Final = "delivery"


def _held_for_inbox() -> ColumnElement[bool]:
    forwarded = select(OutboxRow.id).where(
        OutboxRow.message_id == MessageRow.id, OutboxRow.kind.in_(TO_THERAPIST_KINDS)
    )
    return and_(MessageRow.status == "held", MessageRow.direction == "inbound", ~exists(forwarded))


async def release_due(engine: AsyncEngine, now: datetime) -> int:
    """Held inbox-only messages whose opening has come read `received`. Returns how many."""
    due = and_(_held_for_inbox(), MessageRow.deliver_at <= now)
    async with reader(engine).connect() as connection:
        # Read first: most passes find nothing, and a write would take SQLite's write lock.
        ids = list((await connection.execute(select(MessageRow.id).where(due))).scalars())
    if not ids:
        return 0
    async with engine.begin() as connection:
        return await _release(connection, ids, now)


async def follow_availability(engine: AsyncEngine, directory: Directory, now: datetime) -> int:
    """Held inbox-only messages move to the opening this configuration gives (released when
    reachable now, without a delivery time while there is none). Returns how many changed."""
    waiting = or_(MessageRow.deliver_at > now, MessageRow.deliver_at.is_(None))
    async with reader(engine).connect() as connection:
        rows = (
            await connection.execute(
                select(
                    MessageRow.id,
                    MessageRow.therapist_id,
                    MessageRow.client_id,
                    MessageRow.deliver_at,
                ).where(_held_for_inbox(), waiting)
            )
        ).all()
    released: list[str] = []
    moved: dict[str, datetime | None] = {}
    for message_id, therapist_id, client_id, deliver_at in rows:
        match availability(directory, therapist_id, client_id, now):
            case ReachableNow():
                released.append(message_id)
            case OpensAt(at=opening) if opening != deliver_at:
                moved[message_id] = opening
            case NoOpening() if deliver_at is not None:
                moved[message_id] = None
            case _:
                continue
    if not released and not moved:
        return 0
    async with engine.begin() as connection:
        changed = await _release(connection, released, now) if released else 0
        for message_id, at in moved.items():
            changed += await _move(connection, message_id, at, now)
    return changed


async def _release(connection: AsyncConnection, ids: Sequence[str], now: datetime) -> int:
    result = await connection.execute(
        update(MessageRow)
        .where(MessageRow.id.in_(ids), _held_for_inbox())
        .values(status="received")
        .returning(MessageRow.id)
    )
    released = sorted(result.scalars())
    event = AuditEvent(now, ACTOR, "held_released", None, {"forward": "none"})
    await append_each(connection, event, [f"message:{mid}" for mid in released])
    return len(released)


async def _move(
    connection: AsyncConnection, message_id: str, deliver_at: datetime | None, now: datetime
) -> int:
    result = await connection.execute(
        update(MessageRow)
        .where(MessageRow.id == message_id, _held_for_inbox())
        .values(deliver_at=deliver_at)
        .returning(MessageRow.id)
    )
    if result.first() is None:
        return 0
    at: JSONValue = utc_iso(deliver_at)
    event = AuditEvent(
        now, ACTOR, "delivery_rescheduled", f"message:{message_id}", {"deliver_at": at}
    )
    await append_events(connection, [event])
    return 1
