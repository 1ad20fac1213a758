"""Retention: message bodies older than the retention period are purged.

Only the sealed text goes; the message's metadata, its decision and the audit trail stay, so
what happened remains provable after what was said is gone.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Final

import structlog
from sqlalchemy import ColumnElement, and_, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.audit.store import AuditEvent, append_events
from gateway.db.tables import MessageRow, OutboxRow

log = structlog.get_logger(__name__)

BATCH_SIZE: Final = 500
# Outbox rows still to be sent keep their text whatever their age: the worker needs it.
FINISHED_OUTBOX_STATES: Final = ("sent", "failed", "cancelled")


async def purge_expired_bodies(
    engine: AsyncEngine,
    *,
    now: datetime,
    retention_days: int,
    actor: str,
    batch_size: int = BATCH_SIZE,
) -> int:
    """Purges bodies older than `retention_days` before `now`, in batches of short
    transactions, and audits the run once ("bodies_purged", counts and cutoff).

    Returns the number of bodies purged: messages' and finished outbox rows' together.
    """
    if retention_days < 1:
        raise ValueError("retention_days must be at least 1")
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    cutoff = now - timedelta(days=retention_days)
    messages = await _purge_in_batches(
        engine,
        MessageRow,
        MessageRow.at < cutoff,
        {"body_purged_at": now},
        batch_size,
    )
    outbox = await _purge_in_batches(
        engine,
        OutboxRow,
        and_(OutboxRow.created_at < cutoff, OutboxRow.state.in_(FINISHED_OUTBOX_STATES)),
        {},
        batch_size,
    )
    async with engine.begin() as connection:
        # Audited even when nothing was due, so the trail shows the policy ran.
        await append_events(
            connection,
            [
                AuditEvent(
                    now,
                    actor,
                    "bodies_purged",
                    None,
                    {
                        "count": messages + outbox,
                        "messages": messages,
                        "outbox": outbox,
                        "cutoff": cutoff.isoformat(),
                        "retention_days": retention_days,
                    },
                )
            ],
        )
    log.info("bodies_purged", count=messages + outbox)
    return messages + outbox


async def _purge_in_batches(
    engine: AsyncEngine,
    table: type[MessageRow] | type[OutboxRow],
    due: ColumnElement[bool],
    values: dict[str, object],
    batch_size: int,
) -> int:
    purged = 0
    while True:
        async with engine.begin() as connection:
            ids = list(
                (
                    await connection.execute(
                        select(table.id).where(due, table.body_enc.is_not(None)).limit(batch_size)
                    )
                ).scalars()
            )
            if ids:
                result = await connection.execute(
                    update(table)
                    .where(table.id.in_(ids), table.body_enc.is_not(None))
                    .values(body_enc=None, **values)
                )
                purged += result.rowcount
        # The selected rows have no body now, so each batch moves on and the loop ends.
        if len(ids) < batch_size:
            return purged
