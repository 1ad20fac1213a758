"""The audit log for admins, newest first."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, select

from gateway.api_services.caller import Caller
from gateway.api_services.context import ApiContext
from gateway.api_services.paging import read_seq_cursor, seq_cursor
from gateway.db.engine import reader
from gateway.db.tables import AuditEventRow


@dataclass(frozen=True, slots=True)
class AuditEntry:
    seq: int
    at: datetime
    actor: str
    action: str
    subject: str | None
    details: dict[str, Any]


@dataclass(frozen=True, slots=True)
class AuditPage:
    items: tuple[AuditEntry, ...]
    next: str | None


async def list_audit(
    context: ApiContext,
    caller: Caller,
    *,
    since: datetime | None,
    limit: int,
    cursor: str | None,
) -> AuditPage:
    caller.require_admin()
    conditions: list[ColumnElement[bool]] = []
    if since is not None:
        conditions.append(AuditEventRow.at >= since)
    if cursor is not None:
        conditions.append(AuditEventRow.seq < read_seq_cursor(cursor))
    async with reader(context.engine).connect() as connection:
        rows = (
            await connection.execute(
                select(AuditEventRow)
                .where(*conditions)
                .order_by(AuditEventRow.seq.desc())
                .limit(limit + 1)
            )
        ).all()
        found = list(rows)
    items = tuple(
        AuditEntry(row.seq, row.at, row.actor, row.action, row.subject, dict(row.details))
        for row in found[:limit]
    )
    return AuditPage(items, seq_cursor(items[-1].seq) if len(found) > limit else None)
