"""Writing one inbound SMS in the group writer's transaction, idempotently on MessageSid."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.audit.store import AuditEvent
from gateway.db.tables import (
    AutoReplyRow,
    DecisionRow,
    MessageRow,
    OptOutRow,
    OutboxRow,
    table_of,
)
from gateway.importer import bump_config_version


@dataclass(frozen=True, slots=True)
class Stored:
    twiml: str


@dataclass(frozen=True, slots=True)
class Duplicate:
    """The MessageSid was stored before (a retry, or another replica): its first answer."""

    twiml: str


InboundResult = Stored | Duplicate


def upsert_insert(connection: AsyncConnection, table: Any) -> Any:
    """An INSERT that can take ON CONFLICT clauses, in the connection's dialect."""
    dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
    return dialect.insert(table)


def insert_ignoring_conflicts(connection: AsyncConnection, table: Any) -> Any:
    """INSERT ... ON CONFLICT DO NOTHING in the connection's dialect."""
    return upsert_insert(connection, table).on_conflict_do_nothing()


@dataclass(slots=True)
class InboundJob:
    message: dict[str, Any]
    decision: dict[str, Any]
    twiml: str
    twiml_without_reply: str
    outbox: list[dict[str, Any]] = field(default_factory=list)
    outbound_messages: list[dict[str, Any]] = field(default_factory=list)
    opt_change: dict[str, Any] | None = None
    auto_reply: dict[str, Any] | None = None
    events: list[AuditEvent] = field(default_factory=list)
    # Answered from the spool while the database was away: the client has `twiml` already.
    answered: bool = False

    @property
    def sid(self) -> str:
        return str(self.message["sid"])

    @property
    def message_id(self) -> str:
        return str(self.message["id"])

    @classmethod
    async def write_many(
        cls, connection: AsyncConnection, jobs: Sequence[InboundJob]
    ) -> list[tuple[InboundResult, list[AuditEvent]]]:
        """One statement per table for the whole batch. A MessageSid stored before (a retry,
        or another replica) is answered with its first answer and writes nothing; a race with
        another replica on the same MessageSid fails the insert, and the group writer then
        retries the jobs one by one, which finds the stored copy."""
        first = await connection.execute(
            select(MessageRow.sid, MessageRow.twiml).where(
                MessageRow.sid.in_([job.sid for job in jobs])
            )
        )
        stored: dict[str, str | None] = {
            sid: twiml for sid, twiml in first.all() if sid is not None
        }
        fresh: list[InboundJob] = []
        for job in jobs:
            if job.sid not in stored:
                stored[job.sid] = None
                fresh.append(job)
        fresh_ids = {id(job) for job in fresh}
        losers = await cls._claim_auto_replies(connection, fresh)
        results: list[tuple[InboundResult, list[AuditEvent]]] = []
        messages, decisions = [], []
        for job in jobs:
            if id(job) not in fresh_ids:
                results.append((Duplicate(stored[job.sid] or job.twiml), []))
                continue
            message, decision = job.message, job.decision
            if job.message_id in losers and not job.answered:
                # Another process already auto-replied to this sender in this period.
                message = {**message, "twiml": job.twiml_without_reply}
                details = {**decision["details"], "reply": False}
                reason = decision["reason"] + "; auto-reply already sent in this period"
                decision = {**decision, "reason": reason, "details": details}
            stored[job.sid] = message["twiml"]
            results.append((Stored(message["twiml"]), job.events))
            messages.append(message)
            messages.extend(job.outbound_messages)
            decisions.append(decision)
        if not fresh:
            return results
        await connection.execute(insert(table_of(MessageRow)), messages)
        await connection.execute(insert(table_of(DecisionRow)), decisions)
        outbox = [row for job in fresh for row in job.outbox]
        if outbox:
            await connection.execute(insert(table_of(OutboxRow)), outbox)
        opt_changes = [job.opt_change for job in fresh if job.opt_change is not None]
        for change in opt_changes:
            await _record_opt_change(connection, change)
        if opt_changes:
            # Every process keeps opt-out state in memory with the configuration.
            await bump_config_version(connection)
        return results

    @staticmethod
    async def _claim_auto_replies(
        connection: AsyncConnection, jobs: Sequence[InboundJob]
    ) -> set[str]:
        """Message ids whose auto-reply lost to one sent earlier for the same period."""
        claims = [job.auto_reply for job in jobs if job.auto_reply is not None]
        if not claims:
            return set()
        await connection.execute(
            insert_ignoring_conflicts(connection, table_of(AutoReplyRow)), claims
        )
        mine = [claim["message_id"] for claim in claims]
        won = await connection.execute(
            select(AutoReplyRow.message_id).where(AutoReplyRow.message_id.in_(mine))
        )
        return set(mine) - set(won.scalars())


async def _record_opt_change(connection: AsyncConnection, change: dict[str, Any]) -> None:
    table = table_of(OptOutRow)
    statement = upsert_insert(connection, table).values(change)
    statement = statement.on_conflict_do_update(
        index_elements=[table.c.phone_index],
        set_={
            key: statement.excluded[key]
            for key in ("opted_out", "keyword", "message_id", "changed_at")
        },
    )
    await connection.execute(statement)
