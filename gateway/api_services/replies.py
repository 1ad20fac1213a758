"""A therapist's reply to their own client through the practice number, under the same
boundaries as a relay from the therapist's phone: sent now within the client's reachable
hours, otherwise held until the next opening, unless urgent with a reason."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import structlog
from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.api_services.caller import Caller
from gateway.api_services.context import ApiContext
from gateway.api_services.errors import ConflictError, InvalidInputError, NotFoundError
from gateway.audit.chain import JSONValue
from gateway.audit.store import AuditEvent, append_events
from gateway.clock import utc_iso
from gateway.db.tables import DecisionRow, MessageRow, OptOutRow, OutboxRow
from gateway.outbox import new_id, outbox_row
from gateway.practice_config import ClientInfo, TherapistInfo
from rules.engine import HORIZON
from rules.hours import is_open, next_opening
from rules.model import Client, Therapist
from rules.wording import describe_opening

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class ReplyRequest:
    client: str
    body: str
    urgent: bool = False
    reason: str | None = None
    # Chosen by the page that shows the reply box, so that a second submission of the same
    # form (a double click, a resent POST) finds its reply written and sends nothing more.
    message_id: str | None = None


class AlreadySentError(Exception):
    """The reply of this message id was written before."""

    def __init__(self, message_id: str) -> None:
        super().__init__("reply already written")
        self.message_id = message_id


@dataclass(frozen=True, slots=True)
class SentReply:
    id: str
    direction: str
    client: str
    therapist: str
    at: datetime
    status: str
    flags: tuple[str, ...]
    deliver_at: datetime | None
    held: bool
    urgent: bool


@dataclass(frozen=True, slots=True)
class _Timing:
    due_at: datetime
    held: bool
    why: str


def _timing(therapist: Therapist, client: Client, now: datetime, request: ReplyRequest) -> _Timing:
    state = is_open(therapist.schedule, now, client.agreement)
    if state.open:
        return _Timing(now, held=False, why=f"{state.reason}, sent now")
    if request.urgent:
        return _Timing(now, held=False, why=f"{state.reason}; sent now as urgent")
    opening = next_opening(therapist.schedule, now, client.agreement, horizon=HORIZON)
    if opening is None:
        raise ConflictError(
            f"client {client.id} has no contact time within a year; nothing was sent "
            "(send it as urgent with a reason if it cannot wait)"
        )
    when = describe_opening(opening.at, now, therapist.schedule.timezone)
    return _Timing(opening.at.astimezone(UTC), held=True, why=f"{state.reason}; held until {when}")


async def _check_draft_unused(
    connection: AsyncConnection, message_id: str, client_id: str, therapist_id: str
) -> None:
    """A form's draft id names the reply it sends: sent already to this client by this
    therapist, the form came twice; sent to anyone else, the id is not this form's."""
    found = (
        await connection.execute(
            select(MessageRow.client_id, MessageRow.therapist_id).where(MessageRow.id == message_id)
        )
    ).first()
    if found is None:
        return
    if (found.client_id, found.therapist_id) == (client_id, therapist_id):
        raise AlreadySentError(message_id)
    raise InvalidInputError(
        "this form was already used for another reply; nothing was sent. Reload the page "
        "and write it again"
    )


async def _opted_out(connection: AsyncConnection, phone_index: str) -> bool:
    row = (
        await connection.execute(
            select(OptOutRow.opted_out).where(OptOutRow.phone_index == phone_index)
        )
    ).scalar_one_or_none()
    return bool(row)


def _message_values(
    context: ApiContext,
    *,
    message_id: str,
    therapist: TherapistInfo,
    client: ClientInfo,
    body: str,
    now: datetime,
    timing: _Timing,
) -> dict[str, object]:
    vault = context.vault
    return {
        "id": message_id,
        "sid": None,
        "direction": "outbound",
        "practice_number": therapist.number,
        "counterpart_index": vault.phone_index(client.phone),
        "counterpart_enc": vault.seal("messages", "counterpart", message_id, client.phone),
        "client_id": client.id,
        "therapist_id": therapist.id,
        "body_enc": vault.seal("messages", "body", message_id, body),
        "body_purged_at": None,
        "at": now,
        "status": "held" if timing.held else "queued",
        "flags": ",",
        "rule": "reply",
        "deliver_at": timing.due_at if timing.held else None,
        "twiml": None,
    }


async def send_reply(context: ApiContext, caller: Caller, request: ReplyRequest) -> SentReply:
    therapist_id = caller.own_therapist()
    if request.urgent and not (request.reason or "").strip():
        raise InvalidInputError("an urgent message needs a reason (it is kept in the audit log)")
    directory = context.directory()
    client_info = directory.config.clients.get(request.client)
    if client_info is None or client_info.therapist_id != therapist_id:
        # Another therapist's client answers exactly like one that does not exist.
        raise NotFoundError(f"no client {request.client}")
    therapist_info = directory.therapist_info(therapist_id)
    now = context.clock.now()
    message_id = request.message_id or new_id()
    try:
        return await _write_reply(
            context,
            caller,
            request,
            message_id=message_id,
            now=now,
            client_info=client_info,
            therapist_info=therapist_info,
        )
    except IntegrityError:
        if request.message_id is None:
            raise
        # The same form, submitted twice at once: the other submission wrote it.
        raise AlreadySentError(message_id) from None


async def _write_reply(
    context: ApiContext,
    caller: Caller,
    request: ReplyRequest,
    *,
    message_id: str,
    now: datetime,
    client_info: ClientInfo,
    therapist_info: TherapistInfo,
) -> SentReply:
    therapist_id = therapist_info.id
    directory = context.directory()
    async with context.engine.begin() as connection:
        if request.message_id is not None:
            await _check_draft_unused(connection, message_id, client_info.id, therapist_id)
        # Read in the transaction, not from memory: an opt-out a moment ago must already hold.
        if await _opted_out(connection, context.vault.phone_index(client_info.phone)):
            raise ConflictError(
                f"client {client_info.id} has opted out of texts from the practice number; "
                "nothing was sent. They can opt back in by texting START."
            )
        timing = _timing(
            directory.therapists[therapist_id], directory.clients[client_info.id], now, request
        )
        await connection.execute(
            insert(MessageRow),
            _message_values(
                context,
                message_id=message_id,
                therapist=therapist_info,
                client=client_info,
                body=request.body,
                now=now,
                timing=timing,
            ),
        )
        await connection.execute(
            insert(OutboxRow),
            outbox_row(
                context.vault,
                kind="reply",
                from_number=therapist_info.number,
                to_number=client_info.phone,
                body=request.body,
                due_at=timing.due_at,
                now=now,
                message_id=message_id,
                therapist_id=therapist_id,
                client_id=client_info.id,
                details={"held": timing.held, "urgent": request.urgent},
            ),
        )
        details: dict[str, JSONValue] = {
            "client": client_info.id,
            "held": timing.held,
            "deliver_at": utc_iso(timing.due_at) if timing.held else None,
            "urgent": request.urgent,
            "why": timing.why,
        }
        if request.urgent:
            details["reason"] = request.reason
        # Explained like an inbound message, so "why did this go at that time?" has an answer.
        await connection.execute(
            insert(DecisionRow),
            {
                "message_id": message_id,
                "rule": "reply",
                "reason": f"reply to client {client_info.id}: {timing.why}",
                "details": details,
                "decided_at": now,
            },
        )
        await append_events(
            connection,
            [AuditEvent(now, caller.actor, "reply_queued", f"message:{message_id}", details)],
        )
    log.info(
        "reply_queued",
        message_id=message_id,
        client_id=client_info.id,
        therapist_id=therapist_id,
        deliver_at=timing.due_at.isoformat() if timing.held else None,
    )
    return SentReply(
        id=message_id,
        direction="outbound",
        client=client_info.id,
        therapist=therapist_id,
        at=now,
        status="held" if timing.held else "queued",
        flags=(),
        deliver_at=timing.due_at if timing.held else None,
        held=timing.held,
        urgent=request.urgent,
    )
