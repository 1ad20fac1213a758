"""Reading messages: metadata lists for everyone in scope, bodies only with an audit entry."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.api_services.caller import Caller
from gateway.api_services.context import ApiContext
from gateway.api_services.errors import ForbiddenError, InvalidInputError, NotFoundError
from gateway.api_services.paging import read_time_cursor, time_cursor
from gateway.audit.store import AuditEvent, append_events
from gateway.db.engine import reader
from gateway.db.tables import ClientRow, DecisionRow, MessageRow


@dataclass(frozen=True, slots=True)
class MessageSummary:
    id: str
    direction: str
    client: str | None
    therapist: str | None
    at: datetime
    status: str
    flags: tuple[str, ...]
    deliver_at: datetime | None


@dataclass(frozen=True, slots=True)
class MessagePage:
    items: tuple[MessageSummary, ...]
    next: str | None


@dataclass(frozen=True, slots=True)
class DecisionView:
    rule: str
    reason: str
    details: dict[str, Any]
    decided_at: datetime


@dataclass(frozen=True, slots=True)
class MessageDetail(MessageSummary):
    body: str | None
    # True once retention removed the body; metadata and the decision stay.
    purged: bool
    decision: DecisionView | None


@dataclass(frozen=True, slots=True)
class MessageFilter:
    client: str | None = None
    therapist: str | None = None
    flag: str | None = None
    since: datetime | None = None
    until: datetime | None = None


SUMMARY_COLUMNS = (
    MessageRow.id,
    MessageRow.direction,
    MessageRow.client_id,
    MessageRow.therapist_id,
    MessageRow.at,
    MessageRow.status,
    MessageRow.flags,
    MessageRow.deliver_at,
)


def flag_list(column: str) -> tuple[str, ...]:
    return tuple(flag for flag in column.split(",") if flag)


def summary_fields(row: Any) -> dict[str, Any]:
    """A message row's metadata, as every view of a message shows it."""
    return {
        "id": row.id,
        "direction": row.direction,
        "client": row.client_id,
        "therapist": row.therapist_id,
        "at": row.at,
        "status": row.status,
        "flags": flag_list(row.flags),
        "deliver_at": row.deliver_at,
    }


def summary(row: Any) -> MessageSummary:
    return MessageSummary(**summary_fields(row))


async def _client_therapist(connection: AsyncConnection, client_id: str) -> str | None:
    return (
        await connection.execute(select(ClientRow.therapist_id).where(ClientRow.id == client_id))
    ).scalar_one_or_none()


def in_inbox_of(therapist_id: str, numbers: frozenset[str]) -> ColumnElement[bool]:
    """A therapist's inbox: every message of the clients assigned to them now (a client who
    moves to another therapist takes their history along, and the one before no longer reads
    it), their own messages without a client (relays), and those of unknown senders to a
    practice number they answer (shared by several therapists, such a message is in each
    inbox). A relay is the relaying therapist's alone."""
    their_clients = select(ClientRow.id).where(ClientRow.therapist_id == therapist_id)
    return or_(
        MessageRow.client_id.in_(their_clients),
        and_(MessageRow.client_id.is_(None), MessageRow.therapist_id == therapist_id),
        and_(
            MessageRow.client_id.is_(None),
            MessageRow.practice_number.in_(sorted(numbers)),
            or_(MessageRow.rule.is_(None), MessageRow.rule != "relay"),
        ),
    )


def numbers_of(context: ApiContext, therapist_id: str) -> frozenset[str]:
    directory = context.config.directory
    if directory is None:
        return frozenset()
    return frozenset(
        number for number, ids in directory.therapists_by_number.items() if therapist_id in ids
    )


async def scope_conditions(
    context: ApiContext, connection: AsyncConnection, caller: Caller, wanted: MessageFilter
) -> list[ColumnElement[bool]]:
    """The WHERE conditions for this caller and filter; a filter naming another therapist's
    messages is refused rather than silently emptied, so mistakes show. A therapist filter
    lists that therapist's inbox, as the therapist sees it."""
    conditions: list[ColumnElement[bool]] = []
    inbox = wanted.therapist
    if not caller.is_admin:
        own = caller.own_therapist()
        if inbox is not None and inbox != own:
            raise ForbiddenError("a therapist's token lists only that therapist's messages")
        if wanted.client is not None and await _client_therapist(connection, wanted.client) != own:
            raise ForbiddenError(f"client {wanted.client} is not one of this therapist's clients")
        inbox = own
    if inbox is not None:
        conditions.append(in_inbox_of(inbox, numbers_of(context, inbox)))
    if wanted.client is not None:
        conditions.append(MessageRow.client_id == wanted.client)
    if wanted.flag is not None:
        conditions.append(MessageRow.flags.contains(f",{wanted.flag},", autoescape=True))
    if wanted.since is not None:
        conditions.append(MessageRow.at >= wanted.since)
    if wanted.until is not None:
        conditions.append(MessageRow.at < wanted.until)
    if wanted.since is not None and wanted.until is not None and wanted.until < wanted.since:
        raise InvalidInputError("until is before since")
    return conditions


async def list_messages(
    context: ApiContext, caller: Caller, wanted: MessageFilter, *, limit: int, cursor: str | None
) -> MessagePage:
    async with reader(context.engine).connect() as connection:
        conditions = await scope_conditions(context, connection, caller, wanted)
        if cursor is not None:
            at, message_id = read_time_cursor(cursor)
            conditions.append(
                or_(MessageRow.at < at, and_(MessageRow.at == at, MessageRow.id < message_id))
            )
        rows = (
            await connection.execute(
                select(*SUMMARY_COLUMNS)
                .where(*conditions)
                .order_by(MessageRow.at.desc(), MessageRow.id.desc())
                .limit(limit + 1)
            )
        ).all()
    items = tuple(summary(row) for row in rows[:limit])
    after = time_cursor(items[-1].at, items[-1].id) if len(rows) > limit else None
    return MessagePage(items, after)


async def read_message(
    context: ApiContext, caller: Caller, message_id: str, reason: str | None
) -> MessageDetail:
    """One message with its body and decision; the read is audited in the same transaction,
    so no body is ever shown without a trace of who read it and why."""
    if caller.is_admin and not reason:
        raise InvalidInputError("an admin must give a reason to read a message body (?reason=...)")
    async with context.engine.begin() as connection:
        query = select(MessageRow).where(MessageRow.id == message_id)
        if not caller.is_admin:
            # Another therapist's message answers exactly like one that does not exist.
            own = caller.own_therapist()
            query = query.where(in_inbox_of(own, numbers_of(context, own)))
        row = (await connection.execute(query)).first()
        detail = None
        if row is not None:
            detail = await _read_and_audit(context, connection, caller, row, reason)
        elif not caller.is_admin and await _exists(connection, message_id):
            # Another therapist's client's message: who tried to read it is recorded, in
            # this transaction, which must commit before the refusal.
            await append_events(
                connection,
                [
                    AuditEvent(
                        context.clock.now(),
                        caller.actor,
                        "access_denied",
                        f"message:{message_id}",
                        {"status": 404, "why": "not in this therapist's inbox"},
                    )
                ],
            )
    if detail is None:
        raise NotFoundError(f"no message {message_id}")
    return detail


async def _exists(connection: AsyncConnection, message_id: str) -> bool:
    found = await connection.execute(select(MessageRow.id).where(MessageRow.id == message_id))
    return found.first() is not None


async def _read_and_audit(
    context: ApiContext, connection: AsyncConnection, caller: Caller, row: Any, reason: str | None
) -> MessageDetail:
    """The body and decision of a message the caller may read; the read is audited."""
    decision = (
        await connection.execute(select(DecisionRow).where(DecisionRow.message_id == row.id))
    ).first()
    body = None
    if row.body_enc is not None and row.body_purged_at is None:
        body = context.vault.open("messages", "body", row.id, row.body_enc)
    await append_events(
        connection,
        [
            AuditEvent(
                context.clock.now(),
                caller.actor,
                "message_read",
                f"message:{row.id}",
                {"reason": reason},
            )
        ],
    )
    return MessageDetail(
        **summary_fields(row),
        body=body,
        purged=body is None,
        decision=(
            DecisionView(
                decision.rule, decision.reason, dict(decision.details), decision.decided_at
            )
            if decision is not None
            else None
        ),
    )
