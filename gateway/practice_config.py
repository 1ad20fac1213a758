"""The practice's configuration as plain values, read from the database and decrypted.

The importer compares a practice file with these values, and every process keeps them in
memory (see gateway.directory) so that the webhook never reads configuration per request.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any, cast

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.crypto import IndexKeyMismatchError
from gateway.db.tables import (
    ClientRow,
    ConfigStateRow,
    OptOutRow,
    PracticeRow,
    TherapistRow,
    TimeOffRow,
)
from gateway.vault import Vault
from rules.model import ForwardMode
from rules.schedule import format_weekly_hours, parse_weekly_hours

Hours = dict[str, list[str]]


def normal_hours(hours: Mapping[str, Sequence[str]] | None) -> Hours:
    """Hours with overlapping and adjacent windows merged, days in weekday order."""
    return format_weekly_hours(parse_weekly_hours(hours or {}))


@dataclass(frozen=True, slots=True, order=True)
class Period:
    start: date
    end: date
    note: str = ""

    def as_json(self) -> dict[str, str]:
        return {"start": self.start.isoformat(), "end": self.end.isoformat(), "note": self.note}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Period:
        return cls(
            date.fromisoformat(data["start"]), date.fromisoformat(data["end"]), data.get("note", "")
        )


@dataclass(frozen=True, slots=True)
class PracticeInfo:
    name: str
    country: str
    subdivision: str | None
    timezone: str
    new_contact_reply: str | None
    on_call: str | None
    closed: tuple[Period, ...] = ()


@dataclass(frozen=True, slots=True)
class TherapistInfo:
    id: str
    name: str
    number: str
    forward_to: str
    forward: ForwardMode
    on_call: str | None
    timezone: str
    public_holidays: bool
    hours: Hours
    time_off: tuple[Period, ...] = ()
    # Row ids of time_off entries, parallel to time_off (the API deletes by id).
    time_off_ids: tuple[str, ...] = field(default=(), compare=False)


@dataclass(frozen=True, slots=True)
class ClientInfo:
    id: str
    name: str
    phone: str
    therapist_id: str
    agreement_hours: Hours | None
    agreement_note: str | None


@dataclass(frozen=True, slots=True)
class PracticeConfig:
    practice: PracticeInfo | None
    therapists: dict[str, TherapistInfo]
    clients: dict[str, ClientInfo]
    version: int = 0
    # Blind indexes of the phones that opted out (carrier keywords).
    opted_out: frozenset[str] = frozenset()


def agreement_note(vault: Vault, row: Any) -> str | None:
    """A client row's agreement note: sealed, or in clear where written before notes were
    sealed and not yet moved by `gateway migrate`."""
    if row.agreement_note_enc is not None:
        return vault.open("clients", "agreement_note", row.id, row.agreement_note_enc)
    return cast(str | None, row.agreement_note)


async def read_config_version(connection: AsyncConnection) -> int:
    version = (
        await connection.execute(select(ConfigStateRow.version).where(ConfigStateRow.id == 1))
    ).scalar_one_or_none()
    return version or 0


async def load_config(connection: AsyncConnection, vault: Vault) -> PracticeConfig:
    version = await read_config_version(connection)
    practice_row = (
        await connection.execute(select(PracticeRow).where(PracticeRow.id == 1))
    ).first()
    practice = None
    if practice_row is not None:
        practice = PracticeInfo(
            name=practice_row.name,
            country=practice_row.country,
            subdivision=practice_row.subdivision,
            timezone=practice_row.timezone,
            new_contact_reply=practice_row.new_contact_reply,
            on_call=(
                vault.open("practices", "on_call", "1", practice_row.on_call_enc)
                if practice_row.on_call_enc is not None
                else None
            ),
            closed=tuple(Period.from_json(item) for item in practice_row.closed),
        )
    time_off: dict[str, list[tuple[Period, str]]] = {}
    for entry in (
        await connection.execute(
            select(TimeOffRow).order_by(TimeOffRow.start, TimeOffRow.end, TimeOffRow.id)
        )
    ).all():
        time_off.setdefault(entry.therapist_id, []).append(
            (Period(entry.start, entry.end, entry.note), entry.id)
        )
    therapists = {}
    for row in (await connection.execute(select(TherapistRow).order_by(TherapistRow.id))).all():
        entries = time_off.get(row.id, [])
        forward_to = vault.open("therapists", "forward_to", row.id, row.forward_to_enc)
        if vault.phone_index(forward_to) != row.forward_to_index:
            # Under another index key every phone would be a stranger: opt-outs included.
            raise IndexKeyMismatchError
        therapists[row.id] = TherapistInfo(
            id=row.id,
            name=row.name,
            number=row.number,
            forward_to=forward_to,
            forward=cast(ForwardMode, row.forward),
            on_call=(
                vault.open("therapists", "on_call", row.id, row.on_call_enc)
                if row.on_call_enc is not None
                else None
            ),
            timezone=row.timezone,
            public_holidays=row.public_holidays,
            hours=row.hours,
            time_off=tuple(period for period, _ in entries),
            time_off_ids=tuple(entry_id for _, entry_id in entries),
        )
    clients = {}
    for client in (await connection.execute(select(ClientRow).order_by(ClientRow.id))).all():
        clients[client.id] = ClientInfo(
            id=client.id,
            name=vault.open("clients", "name", client.id, client.name_enc),
            phone=vault.open("clients", "phone", client.id, client.phone_enc),
            therapist_id=client.therapist_id,
            agreement_hours=client.agreement_hours,
            agreement_note=agreement_note(vault, client),
        )
    opted_out = frozenset(
        (
            await connection.execute(select(OptOutRow.phone_index).where(OptOutRow.opted_out))
        ).scalars()
    )
    return PracticeConfig(practice, therapists, clients, version, opted_out)
