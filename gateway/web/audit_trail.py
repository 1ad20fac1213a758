"""The audit log between two instants, newest first, and whether the chain is intact."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Final

from sqlalchemy import ColumnElement, select
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.api_services.audit_log import AuditEntry
from gateway.api_services.caller import Caller
from gateway.audit.chain import VerifyResult
from gateway.audit.verify import verify_stored_chain
from gateway.db.engine import reader
from gateway.db.tables import AuditEventRow

SHOWN: Final = 200


@dataclass(frozen=True, slots=True)
class AuditTrail:
    entries: tuple[AuditEntry, ...]
    more: bool
    chain: VerifyResult


async def audit_trail(
    engine: AsyncEngine, caller: Caller, *, since: datetime | None, until: datetime | None
) -> AuditTrail:
    caller.require_admin()
    conditions: list[ColumnElement[bool]] = []
    if since is not None:
        conditions.append(AuditEventRow.at >= since)
    if until is not None:
        conditions.append(AuditEventRow.at < until)
    async with reader(engine).connect() as connection:
        rows = (
            await connection.execute(
                select(AuditEventRow)
                .where(*conditions)
                .order_by(AuditEventRow.seq.desc())
                .limit(SHOWN + 1)
            )
        ).all()
        chain = await verify_stored_chain(connection)
    entries = tuple(
        AuditEntry(row.seq, row.at, row.actor, row.action, row.subject, dict(row.details))
        for row in rows[:SHOWN]
    )
    return AuditTrail(entries, len(rows) > SHOWN, chain)
