"""Appending to and reading the audit chain in the database.

Appends from every process are serialised by a lock taken inside the same transaction as
the facts they record: an advisory lock on PostgreSQL, and on SQLite the database's own
write lock (every transaction there begins IMMEDIATE, see gateway.db.engine).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Final

from sqlalchemy import insert, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.audit.chain import GENESIS_HASH, AuditRecord, ChainBuilder, JSONValue
from gateway.db.tables import AuditEventRow, table_of

# A fixed key for pg_advisory_xact_lock: "audit" in ASCII.
_AUDIT_LOCK_KEY: Final = 0x6175646974


@dataclass(frozen=True, slots=True)
class AuditEvent:
    """What happened, by whom, to what; `details` never holds message content."""

    at: datetime
    actor: str
    action: str
    subject: str | None = None
    details: Mapping[str, JSONValue] | None = None


async def lock_chain(connection: AsyncConnection) -> None:
    if connection.dialect.name == "postgresql":
        await connection.execute(
            text("SELECT pg_advisory_xact_lock(:key)"), {"key": _AUDIT_LOCK_KEY}
        )


async def read_head(connection: AsyncConnection) -> tuple[int, str]:
    row = (
        await connection.execute(
            select(AuditEventRow.seq, AuditEventRow.hash)
            .order_by(AuditEventRow.seq.desc())
            .limit(1)
        )
    ).first()
    return (0, GENESIS_HASH) if row is None else (row.seq, row.hash)


async def append_each(
    connection: AsyncConnection,
    event: AuditEvent,
    subjects: Sequence[str],
) -> list[AuditRecord]:
    """`event` once for each of `subjects`."""
    return await append_events(
        connection, [replace(event, subject=subject) for subject in subjects]
    )


async def append_events(
    connection: AsyncConnection, events: Sequence[AuditEvent]
) -> list[AuditRecord]:
    """Extend the chain inside the caller's transaction."""
    if not events:
        return []
    await lock_chain(connection)
    builder = ChainBuilder(*await read_head(connection))
    records = [
        builder.append(
            event.at, event.actor, event.action, event.subject, dict(event.details or {})
        )
        for event in events
    ]
    await connection.execute(
        insert(table_of(AuditEventRow)),
        [
            {
                "seq": record.seq,
                "at": record.at,
                "actor": record.actor,
                "action": record.action,
                "subject": record.subject,
                "details": dict(record.details),
                "prev_hash": record.prev_hash,
                "hash": record.hash,
            }
            for record in records
        ],
    )
    return records


async def iter_records(
    connection: AsyncConnection, batch: int = 1000
) -> AsyncIterator[AuditRecord]:
    """Every entry in sequence order, read in batches so the chain can be any length."""
    after = -1
    while True:
        rows = (
            await connection.execute(
                select(AuditEventRow)
                .where(AuditEventRow.seq > after)
                .order_by(AuditEventRow.seq)
                .limit(batch)
            )
        ).all()
        for row in rows:
            yield AuditRecord(
                seq=row.seq,
                at=row.at,
                actor=row.actor,
                action=row.action,
                subject=row.subject,
                details=row.details,
                prev_hash=row.prev_hash,
                hash=row.hash,
            )
        if len(rows) < batch:
            return
        after = rows[-1].seq
