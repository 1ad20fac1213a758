"""Writing one inbound SMS in the group writer's transaction, idempotently on MessageSid."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Table, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.audit.store import AuditEvent
from gateway.db.tables import (
    AutoReplyRow,
    DecisionRow,
    MessageRow,
    OptOutRow,
    OutboxRow,
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


def insert_ignoring_conflicts(connection: AsyncConnection, table: Any) -> Any:
    """INSERT ... ON CONFLICT DO NOTHING in the connection's dialect."""
    dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
    return dialect.insert(table).on_conflict_do_nothing()


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

    @property
    def sid(self) -> str:
        return str(self.message["sid"])

    async def write(self, connection: AsyncConnection) -> tuple[InboundResult, list[AuditEvent]]:
        inserted = await connection.execute(
            insert_ignoring_conflicts(connection, MessageRow)
            .values(self.message)
            .returning(MessageRow.id)
        )
        if inserted.first() is None:
            first = await connection.execute(
                select(MessageRow.twiml).where(MessageRow.sid == self.sid)
            )
            return Duplicate(first.scalar_one_or_none() or self.twiml), []
        twiml = self.twiml
        decision = dict(self.decision)
        if self.auto_reply is not None and not await self._claim_auto_reply(connection):
            # Another process already auto-replied to this sender in this period.
            twiml = self.twiml_without_reply
            decision["reason"] += "; auto-reply already sent in this period"
            decision["details"] = {**decision["details"], "reply": False}
            await connection.execute(
                update(MessageRow).where(MessageRow.id == self.message["id"]).values(twiml=twiml)
            )
        await connection.execute(insert(DecisionRow), decision)
        if self.outbound_messages:
            await connection.execute(insert(MessageRow), self.outbound_messages)
        if self.outbox:
            await connection.execute(insert(OutboxRow), self.outbox)
        if self.opt_change is not None:
            await self._record_opt_change(connection)
        return Stored(twiml), self.events

    async def _claim_auto_reply(self, connection: AsyncConnection) -> bool:
        result = await connection.execute(
            insert_ignoring_conflicts(connection, AutoReplyRow)
            .values(self.auto_reply)
            .returning(AutoReplyRow.phone_index)
        )
        return result.first() is not None

    async def _record_opt_change(self, connection: AsyncConnection) -> None:
        table: Table = OptOutRow.__table__  # type: ignore[assignment]
        dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
        statement = dialect.insert(table).values(self.opt_change or {})
        statement = statement.on_conflict_do_update(
            index_elements=[table.c.phone_index],
            set_={
                key: statement.excluded[key]
                for key in ("opted_out", "keyword", "message_id", "changed_at")
            },
        )
        await connection.execute(statement)
        # Every process keeps opt-out state in memory with the configuration.
        await bump_config_version(connection)
