"""Held rows follow their therapist's availability when the configuration changes."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.delivery import outcomes
from gateway.delivery.availability import (
    NoOpening,
    NotConfigured,
    OpensAt,
    ReachableNow,
    availability,
)
from gateway.delivery.claim import pending_held
from gateway.directory import Directory


def _due_at(
    directory: Directory, therapist_id: str | None, client_id: str | None, now: datetime
) -> datetime | None:
    match availability(directory, therapist_id, client_id, now):
        case ReachableNow():
            return now
        case OpensAt(at=at):
            return at
        case NoOpening() | NotConfigured():
            # Left for the check at due time, which settles them.
            return None


async def follow_availability(engine: AsyncEngine, directory: Directory, now: datetime) -> int:
    """Moves pending held rows to the opening this configuration gives, earlier or later.
    Returns how many moved."""
    moved = 0
    openings: dict[tuple[str | None, str | None], datetime | None] = {}
    for claim in await pending_held(engine, now):
        key = (claim.therapist_id, claim.client_id)
        if key not in openings:
            openings[key] = _due_at(directory, *key, now)
        due_at = openings[key]
        if due_at is None or due_at == claim.due_at:
            continue
        if claim.attempts and due_at < claim.due_at:
            # Waiting out a retry delay, not an opening: it keeps its delay.
            continue
        async with engine.begin() as connection:
            if await outcomes.reschedule(
                connection, claim, due_at=due_at, now=now, only_pending=True
            ):
                moved += 1
    return moved
