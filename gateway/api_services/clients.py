"""The caller's clients, without phone numbers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, and_, or_, select

from gateway.api_services.caller import Caller
from gateway.api_services.context import ApiContext
from gateway.api_services.paging import read_time_cursor, time_cursor
from gateway.db.engine import reader
from gateway.db.tables import ClientRow
from gateway.practice_config import agreement_note


@dataclass(frozen=True, slots=True)
class AgreementView:
    hours: dict[str, list[str]]
    note: str | None


@dataclass(frozen=True, slots=True)
class ClientView:
    id: str
    name: str
    therapist: str
    agreement: AgreementView | None


@dataclass(frozen=True, slots=True)
class ClientPage:
    items: tuple[ClientView, ...]
    next: str | None


async def list_clients(
    context: ApiContext, caller: Caller, *, limit: int, cursor: str | None
) -> ClientPage:
    """Newest first, like every list; clients imported together come in id order."""
    conditions: list[ColumnElement[bool]] = []
    if not caller.is_admin:
        conditions.append(ClientRow.therapist_id == caller.own_therapist())
    if cursor is not None:
        at, last_id = read_time_cursor(cursor)
        conditions.append(
            or_(
                ClientRow.created_at < at,
                and_(ClientRow.created_at == at, ClientRow.id > last_id),
            )
        )
    async with reader(context.engine).connect() as connection:
        rows = (
            await connection.execute(
                select(
                    ClientRow.id,
                    ClientRow.created_at,
                    ClientRow.name_enc,
                    ClientRow.therapist_id,
                    ClientRow.agreement_hours,
                    ClientRow.agreement_note_enc,
                    ClientRow.agreement_note,
                )
                .where(*conditions)
                .order_by(ClientRow.created_at.desc(), ClientRow.id)
                .limit(limit + 1)
            )
        ).all()
    items = tuple(_client_view(context, row) for row in rows[:limit])
    last = rows[limit - 1] if len(rows) > limit else None
    return ClientPage(items, time_cursor(last.created_at, last.id) if last is not None else None)


def _client_view(context: ApiContext, row: Any) -> ClientView:
    note = agreement_note(context.vault, row)
    return ClientView(
        id=row.id,
        name=context.vault.open("clients", "name", row.id, row.name_enc),
        therapist=row.therapist_id,
        agreement=(
            AgreementView(dict(row.agreement_hours or {}), note)
            if row.agreement_hours is not None or note is not None
            else None
        ),
    )
