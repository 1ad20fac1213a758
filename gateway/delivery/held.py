"""Held rows follow their therapist's availability when the configuration changes."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.delivery import outcomes
from gateway.delivery.availability import (
    Availability,
    NoOpening,
    OpensAt,
    ReachableNow,
    availability,
    responsible_therapist,
)
from gateway.delivery.claim import Claim, pending_held
from gateway.directory import Directory


def _keeps(claim: Claim, due_at: datetime) -> bool:
    """The same opening, or a retry delay being waited out rather than an opening."""
    return due_at == claim.due_at or bool(claim.attempts and due_at < claim.due_at)


async def follow_availability(engine: AsyncEngine, directory: Directory, now: datetime) -> int:
    """Moves pending held rows to the opening this configuration gives, earlier or later, or
    parks them while it gives none. Returns how many moved."""
    moved = 0
    found: dict[tuple[str | None, str | None], Availability] = {}
    for claim in await pending_held(engine, now):
        therapist_id = responsible_therapist(
            directory, claim.kind, claim.therapist_id, claim.client_id
        )
        key = (therapist_id, claim.client_id)
        if key not in found:
            found[key] = availability(directory, *key, now)
        parked = bool(claim.details.get("parked"))
        match found[key]:
            case ReachableNow():
                due_at: datetime | None = now
            case OpensAt(at=at):
                due_at = at
            case NoOpening() if not parked:
                due_at = None
            case _:
                # Parked already, or no longer configured (it goes as it was recorded).
                continue
        if due_at is not None and not parked and _keeps(claim, due_at):
            continue
        async with engine.begin() as connection:
            if due_at is None:
                moved += await outcomes.park(connection, claim, now=now, only_pending=True)
            else:
                moved += await outcomes.reschedule(
                    connection, claim, due_at=due_at, now=now, only_pending=True
                )
    return moved
