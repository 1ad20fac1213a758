"""Send slots per sending number, shared by every worker through the database.

Each number has the next instant at which it may send (`send_slots.next_at`). A message takes
the slot when that instant has come, which moves it one interval on; otherwise it waits until
then. A crisis alert takes a slot too, but never waits for one: it pushes the next slot back
instead, so what was queued behind it waits a little longer.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Final

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.db.tables import SendSlotRow
from gateway.db.upserts import insert_ignoring_conflicts

# Attempts at pushing the slot back for an alert while other workers move it too.
_ALERT_ATTEMPTS: Final = 5


def send_interval(per_second: float) -> timedelta:
    return timedelta(seconds=1 / per_second)


async def _next_at(connection: AsyncConnection, from_number: str, now: datetime) -> datetime:
    await connection.execute(
        insert_ignoring_conflicts(connection, SendSlotRow).values(
            from_number=from_number, next_at=now
        )
    )
    next_at: datetime = (
        await connection.execute(
            select(SendSlotRow.next_at).where(SendSlotRow.from_number == from_number)
        )
    ).scalar_one()
    return next_at


async def take_slot(
    connection: AsyncConnection,
    from_number: str,
    now: datetime,
    interval: timedelta,
    *,
    urgent: bool,
    count: int = 1,
) -> datetime | None:
    """None when a slot was taken and the message may go now; otherwise the instant at which
    `from_number` is free again. Urgent messages always get None; `count` urgent messages
    going at once push the next slot back by that many intervals."""
    if not urgent:
        # Twice: the first may find no row yet for a number that never sent.
        for _ in range(2):
            taken = await connection.execute(
                update(SendSlotRow)
                .where(SendSlotRow.from_number == from_number, SendSlotRow.next_at <= now)
                .values(next_at=now + interval)
            )
            if taken.rowcount == 1:
                return None
            next_at = await _next_at(connection, from_number, now)
            if next_at > now:
                return next_at
        return now + interval
    for _ in range(_ALERT_ATTEMPTS):
        seen = await _next_at(connection, from_number, now)
        pushed = await connection.execute(
            update(SendSlotRow)
            .where(SendSlotRow.from_number == from_number, SendSlotRow.next_at == seen)
            .values(next_at=max(seen, now) + interval * count)
        )
        if pushed.rowcount == 1:
            break
    return None
