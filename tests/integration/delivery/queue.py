"""Putting synthetic traffic in the outbox as the inbound path does, and reading it back."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.db.tables import AuditEventRow, MessageRow, OptOutRow, OutboxRow
from gateway.outbox import Kind, new_id, outbox_row
from gateway.vault import Vault
from rules.notices import crisis_alert_text, forward_text, notify_text

LEE = "lee"
LEE_NUMBER = "+15550009999"
LEE_OWN_PHONE = "+15551230001"
LEE_ON_CALL = "+15551230002"
RILEY_ID, RILEY, RILEY_NAME = "c1002", "+15557654322", "Riley M."
JORDAN_ID, JORDAN = "c1001", "+15557654321"
CASEY_ID, CASEY = "c2001", "+15557654323"


async def insert_rows(engine: AsyncEngine, table: Any, rows: list[dict[str, Any]]) -> None:
    async with engine.begin() as connection:
        await connection.execute(insert(table), rows)


def inbound_message(
    vault: Vault,
    *,
    body: str,
    at: datetime,
    sender: str = RILEY,
    client_id: str | None = RILEY_ID,
    deliver_at: datetime | None = None,
) -> dict[str, Any]:
    message_id = new_id()
    return {
        "id": message_id,
        "sid": "SM" + message_id,
        "direction": "inbound",
        "practice_number": LEE_NUMBER,
        "counterpart_index": vault.phone_index(sender),
        "counterpart_enc": vault.seal("messages", "counterpart", message_id, sender),
        "client_id": client_id,
        "therapist_id": LEE,
        "body_enc": vault.seal("messages", "body", message_id, body),
        "body_purged_at": None,
        "at": at,
        "status": "held" if deliver_at is not None else "queued",
        "flags": ",after_hours," if deliver_at is not None else ",",
        "rule": "closed" if deliver_at is not None else "open",
        "deliver_at": deliver_at,
        "twiml": None,
    }


async def queue_forward(
    engine: AsyncEngine,
    vault: Vault,
    body: str,
    *,
    at: datetime,
    deliver_at: datetime | None = None,
    kind: Kind = "forward",
) -> tuple[str, str]:
    """An inbound message from Riley and its forward (or notice) to Dr. Lee, held until
    `deliver_at` when given. Returns the message id and the outbox id."""
    message = inbound_message(vault, body=body, at=at, deliver_at=deliver_at)
    text = forward_text(RILEY_NAME, RILEY_ID, body) if kind == "forward" else notify_text(RILEY_ID)
    row = outbox_row(
        vault,
        kind=kind,
        from_number=LEE_NUMBER,
        to_number=LEE_OWN_PHONE,
        body=text,
        due_at=deliver_at or at,
        now=at,
        message_id=message["id"],
        therapist_id=LEE,
        client_id=RILEY_ID,
        details={"held": deliver_at is not None},
    )
    await insert_rows(engine, MessageRow, [message])
    await insert_rows(engine, OutboxRow, [row])
    return message["id"], row["id"]


async def queue_alert(
    engine: AsyncEngine, vault: Vault, *, at: datetime, from_number: str = LEE_NUMBER
) -> dict[str, Any]:
    message = inbound_message(vault, body="synthetic crisis text", at=at)
    row = alert_row(vault, at=at, message_id=message["id"], from_number=from_number)
    await insert_rows(engine, MessageRow, [message])
    await insert_rows(engine, OutboxRow, [row])
    return row


def alert_row(
    vault: Vault, *, at: datetime, message_id: str, from_number: str = LEE_NUMBER
) -> dict[str, Any]:
    return outbox_row(
        vault,
        kind="alert",
        from_number=from_number,
        to_number=LEE_ON_CALL,
        body=crisis_alert_text(RILEY_NAME, at, "America/New_York", message_id),
        due_at=at,
        now=at,
        message_id=message_id,
        therapist_id=LEE,
        client_id=RILEY_ID,
        details={"escalation": 0},
    )


async def queue_relay(
    engine: AsyncEngine,
    vault: Vault,
    text: str,
    *,
    at: datetime,
    to: str = RILEY,
    client_id: str = RILEY_ID,
    deliver_at: datetime | None = None,
) -> tuple[str, str]:
    """Dr. Lee's relay to Riley (or another client): the outbound message and its outbox row,
    held until `deliver_at` if given."""
    message = inbound_message(vault, body=text, at=at, sender=to)
    message.update(
        direction="outbound",
        sid=None,
        rule="relay",
        status="held" if deliver_at else "queued",
        deliver_at=deliver_at,
    )
    row = outbox_row(
        vault,
        kind="relay",
        from_number=LEE_NUMBER,
        to_number=to,
        body=text,
        due_at=deliver_at or at,
        now=at,
        message_id=message["id"],
        therapist_id=LEE,
        client_id=client_id,
        details={"held": deliver_at is not None},
    )
    await insert_rows(engine, MessageRow, [message])
    await insert_rows(engine, OutboxRow, [row])
    return message["id"], row["id"]


def plain_row(
    vault: Vault,
    *,
    at: datetime,
    body: str,
    to: str = LEE_OWN_PHONE,
    from_number: str = LEE_NUMBER,
    kind: Kind = "notice",
    due_in: timedelta = timedelta(0),
) -> dict[str, Any]:
    """A row with no message behind it (like an opt-out notice)."""
    return outbox_row(
        vault,
        kind=kind,
        from_number=from_number,
        to_number=to,
        body=body,
        due_at=at + due_in,
        now=at,
        therapist_id=LEE,
    )


async def opt_out(engine: AsyncEngine, vault: Vault, phone: str, at: datetime) -> None:
    await insert_rows(
        engine,
        OptOutRow,
        [
            {
                "phone_index": vault.phone_index(phone),
                "opted_out": True,
                "keyword": "STOP",
                "message_id": None,
                "changed_at": at,
            }
        ],
    )


async def outbox(engine: AsyncEngine) -> dict[str, Any]:
    async with engine.connect() as connection:
        return {row.id: row for row in await connection.execute(select(OutboxRow))}


async def message(engine: AsyncEngine, message_id: str) -> Any:
    async with engine.connect() as connection:
        return (
            await connection.execute(select(MessageRow).where(MessageRow.id == message_id))
        ).one()


async def audit_details(engine: AsyncEngine, subject: str, action: str) -> list[Any]:
    async with engine.connect() as connection:
        return list(
            (
                await connection.execute(
                    select(AuditEventRow.details)
                    .where(AuditEventRow.subject == subject, AuditEventRow.action == action)
                    .order_by(AuditEventRow.seq)
                )
            ).scalars()
        )


async def audit_actions(engine: AsyncEngine, subject: str) -> list[str]:
    async with engine.connect() as connection:
        return list(
            (
                await connection.execute(
                    select(AuditEventRow.action)
                    .where(AuditEventRow.subject == subject)
                    .order_by(AuditEventRow.seq)
                )
            ).scalars()
        )
