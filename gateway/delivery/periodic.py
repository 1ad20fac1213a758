"""Jobs that one worker among many runs once per period (the daily retention purge)."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.db.tables import ScheduledJobRow
from gateway.db.upserts import insert_ignoring_conflicts


async def claim_run(engine: AsyncEngine, name: str, now: datetime, period: timedelta) -> bool:
    """True for exactly one caller per `period`: that caller runs the job."""
    async with engine.begin() as connection:
        first = await connection.execute(
            insert_ignoring_conflicts(connection, ScheduledJobRow)
            .values(name=name, last_run_at=now)
            .returning(ScheduledJobRow.name)
        )
        if first.first() is not None:
            return True
        taken = await connection.execute(
            update(ScheduledJobRow)
            .where(ScheduledJobRow.name == name, ScheduledJobRow.last_run_at <= now - period)
            .values(last_run_at=now)
        )
        return bool(taken.rowcount == 1)
