"""Message metadata with its decisions, for admins, in one audited read."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from sqlalchemy import select

from gateway.api_services.caller import Caller
from gateway.api_services.context import ApiContext
from gateway.api_services.errors import InvalidInputError
from gateway.api_services.messages import (
    SUMMARY_COLUMNS,
    MessageFilter,
    MessageSummary,
    scope_conditions,
    summary_fields,
)
from gateway.audit.store import AuditEvent, append_events
from gateway.db.tables import DecisionRow, MessageRow

ExportFormat = Literal["jsonl", "csv"]


@dataclass(frozen=True, slots=True)
class ExportRow(MessageSummary):
    rule: str | None
    reason: str | None
    details: dict[str, Any] | None


@dataclass(frozen=True, slots=True)
class ExportRequest:
    reason: str
    format: ExportFormat
    wanted: MessageFilter = field(default_factory=MessageFilter)


async def export_messages(
    context: ApiContext, caller: Caller, request: ExportRequest
) -> tuple[ExportRow, ...]:
    """Oldest first, as files are read; the export and its size are audited with the reason."""
    caller.require_admin()
    if not request.reason.strip():
        raise InvalidInputError("an export needs a reason (?reason=...)")
    wanted = request.wanted
    async with context.engine.begin() as connection:
        conditions = await scope_conditions(context, connection, caller, wanted)
        rows = (
            await connection.execute(
                select(*SUMMARY_COLUMNS, DecisionRow.rule, DecisionRow.reason, DecisionRow.details)
                .outerjoin(DecisionRow, DecisionRow.message_id == MessageRow.id)
                .where(*conditions)
                .order_by(MessageRow.at, MessageRow.id)
            )
        ).all()
        exported = tuple(
            ExportRow(
                **summary_fields(row),
                rule=row.rule,
                reason=row.reason,
                details=dict(row.details) if row.details is not None else None,
            )
            for row in rows
        )
        await append_events(
            connection,
            [
                AuditEvent(
                    context.clock.now(),
                    caller.actor,
                    "export",
                    "messages",
                    {
                        "reason": request.reason,
                        "count": len(exported),
                        "format": request.format,
                        "client": wanted.client,
                        "therapist": wanted.therapist,
                        "flag": wanted.flag,
                        "since": wanted.since.isoformat() if wanted.since else None,
                        "until": wanted.until.isoformat() if wanted.until else None,
                    },
                )
            ],
        )
    return exported
