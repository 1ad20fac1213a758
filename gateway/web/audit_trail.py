"""The audit log for the admin's page, newest first: the events of a period, narrowed to one
client, therapist or flag when the page is filtered, and whether the chain is intact."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Final

from sqlalchemy import ColumnElement, CompoundSelect, literal, or_, select, union_all
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.api_services.audit_log import AuditEntry
from gateway.api_services.caller import Caller
from gateway.audit.chain import VerifyResult
from gateway.audit.verify import verify_stored_chain
from gateway.db.engine import reader
from gateway.db.tables import AuditEventRow, MessageRow, OutboxRow

SHOWN: Final = 200


@dataclass(frozen=True, slots=True)
class TrailFilter:
    since: datetime | None = None
    until: datetime | None = None
    client: str | None = None
    therapist: str | None = None
    flag: str | None = None
    # Older pages: only entries before this sequence number.
    before: int | None = None


@dataclass(frozen=True, slots=True)
class AuditTrail:
    entries: tuple[AuditEntry, ...]
    # The sequence number to ask `before` for the next, older page; None on the last page.
    older: int | None
    chain: VerifyResult


def _subjects_of_messages(*where: ColumnElement[bool]) -> CompoundSelect[tuple[str]]:
    """The subjects of the entries about these messages: their own (received, read) and
    their sends' (sent, failed, readdressed)."""
    messages = select(MessageRow.id).where(*where)
    return union_all(
        select(literal("message:") + MessageRow.id).where(*where),
        select(literal("outbox:") + OutboxRow.id).where(OutboxRow.message_id.in_(messages)),
    )


def _about(kind: str, value: str, messages: ColumnElement[bool]) -> ColumnElement[bool]:
    """Entries naming the client or therapist as subject or in their details, and entries
    about their messages."""
    return or_(
        AuditEventRow.subject == f"{kind}:{value}",
        AuditEventRow.details[kind].as_string() == value,
        AuditEventRow.subject.in_(_subjects_of_messages(messages)),
    )


def _conditions(wanted: TrailFilter) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if wanted.since is not None:
        conditions.append(AuditEventRow.at >= wanted.since)
    if wanted.until is not None:
        conditions.append(AuditEventRow.at < wanted.until)
    if wanted.before is not None:
        conditions.append(AuditEventRow.seq < wanted.before)
    if wanted.client is not None:
        conditions.append(_about("client", wanted.client, MessageRow.client_id == wanted.client))
    if wanted.therapist is not None:
        mine = MessageRow.therapist_id == wanted.therapist
        conditions.append(_about("therapist", wanted.therapist, mine))
    if wanted.flag is not None:
        flagged = MessageRow.flags.contains(f",{wanted.flag},", autoescape=True)
        conditions.append(AuditEventRow.subject.in_(_subjects_of_messages(flagged)))
    return conditions


async def audit_trail(engine: AsyncEngine, caller: Caller, wanted: TrailFilter) -> AuditTrail:
    caller.require_admin()
    async with reader(engine).connect() as connection:
        rows = (
            await connection.execute(
                select(AuditEventRow)
                .where(*_conditions(wanted))
                .order_by(AuditEventRow.seq.desc())
                .limit(SHOWN + 1)
            )
        ).all()
        chain = await verify_stored_chain(connection)
    entries = tuple(
        AuditEntry(row.seq, row.at, row.actor, row.action, row.subject, dict(row.details))
        for row in rows[:SHOWN]
    )
    older = entries[-1].seq if len(rows) > SHOWN else None
    return AuditTrail(entries, older, chain)
