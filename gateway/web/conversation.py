"""A therapist's conversation with one of their own clients, bodies included; the read is
audited in the same transaction (one entry for the page, naming how many bodies it showed)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Final

from sqlalchemy import select

from gateway.api_services.caller import Caller
from gateway.api_services.context import ApiContext
from gateway.api_services.errors import NotFoundError
from gateway.api_services.messages import flag_list
from gateway.audit.store import AuditEvent, append_events
from gateway.db.tables import MessageRow

PAGE: Final = 50


@dataclass(frozen=True, slots=True)
class ConversationMessage:
    id: str
    direction: str
    at: datetime
    status: str
    flags: tuple[str, ...]
    deliver_at: datetime | None
    body: str | None  # None once retention purged it


@dataclass(frozen=True, slots=True)
class Conversation:
    client_id: str
    client_name: str
    messages: tuple[ConversationMessage, ...]  # newest first


async def read_conversation(context: ApiContext, caller: Caller, client_id: str) -> Conversation:
    therapist_id = caller.own_therapist()
    client = context.directory().config.clients.get(client_id)
    if client is None or client.therapist_id != therapist_id:
        # Another therapist's client answers exactly like one that does not exist.
        raise NotFoundError(f"no client {client_id}")
    async with context.engine.begin() as connection:
        rows = (
            await connection.execute(
                select(MessageRow)
                .where(MessageRow.client_id == client_id)
                .order_by(MessageRow.at.desc(), MessageRow.id.desc())
                .limit(PAGE)
            )
        ).all()
        messages = tuple(
            ConversationMessage(
                id=row.id,
                direction=row.direction,
                at=row.at,
                status=row.status,
                flags=flag_list(row.flags),
                deliver_at=row.deliver_at,
                body=(
                    context.vault.open("messages", "body", row.id, row.body_enc)
                    if row.body_enc is not None and row.body_purged_at is None
                    else None
                ),
            )
            for row in rows
        )
        await append_events(
            connection,
            [
                AuditEvent(
                    context.clock.now(),
                    caller.actor,
                    "conversation_read",
                    f"client:{client_id}",
                    {"messages": [message.id for message in messages if message.body is not None]},
                )
            ],
        )
    return Conversation(client_id, client.name, messages)
