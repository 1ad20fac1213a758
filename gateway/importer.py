"""`gateway import`: bring the database in line with a validated practice file.

Only what differs is written, in one transaction with its audit entries, so re-importing an
unchanged file writes nothing and audits nothing.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field, fields
from datetime import datetime

from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.audit.chain import JSONValue
from gateway.audit.store import AuditEvent, append_events
from gateway.db.tables import (
    ApiTokenRow,
    ClientRow,
    ConfigStateRow,
    PracticeRow,
    TherapistRow,
    TimeOffRow,
    UserRow,
    WebSessionRow,
)
from gateway.practice_config import (
    ClientInfo,
    Period,
    PracticeConfig,
    PracticeInfo,
    TherapistInfo,
    load_config,
    normal_hours,
    read_config_version,
)
from gateway.practice_file import DateRangeIn, PracticeFile, staff_phones
from gateway.vault import Vault


@dataclass(frozen=True, slots=True)
class ImportSummary:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.created or self.updated or self.removed)


def _periods(ranges: list[DateRangeIn]) -> tuple[Period, ...]:
    return tuple(sorted(Period(item.start, item.end, item.note) for item in ranges))


def desired_config(file: PracticeFile) -> PracticeConfig:
    """The file's content in the shape the database is read into."""
    practice = PracticeInfo(
        name=file.practice.name,
        country=file.practice.country,
        subdivision=file.practice.subdivision,
        timezone=file.practice.timezone,
        new_contact_reply=file.practice.new_contact_reply,
        on_call=file.practice.on_call,
        closed=_periods(file.practice.closed),
    )
    therapists = {
        item.id: TherapistInfo(
            id=item.id,
            name=item.name,
            number=item.number,
            forward_to=item.forward_to,
            forward=item.forward,
            on_call=item.on_call,
            timezone=item.timezone or file.practice.timezone,
            public_holidays=item.public_holidays,
            hours=normal_hours(item.hours),
            time_off=_periods(item.time_off),
        )
        for item in file.therapists
    }
    clients = {
        item.id: ClientInfo(
            id=item.id,
            name=item.name,
            phone=item.phone,
            therapist_id=item.therapist,
            agreement_hours=normal_hours(item.agreement.hours) if item.agreement else None,
            agreement_note=item.agreement.note if item.agreement else None,
        )
        for item in file.clients
    }
    return PracticeConfig(practice, therapists, clients)


def _changed_fields(old: object, new: object, ignore: tuple[str, ...] = ()) -> list[JSONValue]:
    return [
        item.name
        for item in fields(old)  # type: ignore[arg-type]
        if item.compare
        and item.name not in ignore
        and getattr(old, item.name) != getattr(new, item.name)
    ]


class ImportConflictError(Exception):
    """The file is valid but cannot be applied to what the database holds; one problem per
    line, each naming its key."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = tuple(problems)
        super().__init__("\n".join(problems))


def _check_phones_free(
    file: PracticeFile, current: PracticeConfig, wanted: PracticeConfig, *, prune: bool
) -> None:
    """What the file checks within itself, checked against what the database keeps besides
    (the clients and therapists the file does not name stay, unless --prune removes them):
    no two clients share a phone, and no client has one of the practice's own phones."""
    if prune:
        return
    kept_clients = [c for c in current.clients.values() if c.id not in wanted.clients]
    kept_therapists = [t for t in current.therapists.values() if t.id not in wanted.therapists]
    practice_on_call = wanted.practice.on_call if wanted.practice is not None else None
    staff = staff_phones(practice_on_call, [*wanted.therapists.values(), *kept_therapists])
    kept_phones = {client.phone: client.id for client in kept_clients}
    unnamed = "which this file does not name (import with --prune to remove it, or give it"
    problems: list[str] = []
    for index, client in enumerate(file.clients):
        where = f'clients[{index}] (id "{client.id}").phone'
        if client.phone in kept_phones:
            problems.append(
                f'{where}: is already client "{kept_phones[client.phone]}"\'s, {unnamed} '
                "another phone first)"
            )
        elif client.phone in staff:
            problems.append(f"{where}: is {staff[client.phone]}")
    problems += [
        f'client "{client.id}", {unnamed} another phone first): its phone is {staff[client.phone]}'
        for client in kept_clients
        if client.phone in staff
    ]
    if problems:
        raise ImportConflictError(problems)


class Importer:
    def __init__(
        self, connection: AsyncConnection, vault: Vault, now: datetime, actor: str
    ) -> None:
        self._connection = connection
        self._vault = vault
        self._now = now
        self._actor = actor
        self._events: list[AuditEvent] = []

    def _audit(self, action: str, subject: str | None, **details: JSONValue) -> None:
        self._events.append(AuditEvent(self._now, self._actor, action, subject, details or None))

    async def apply(self, file: PracticeFile, *, prune: bool) -> ImportSummary:
        """Raises ImportConflictError, having written nothing the caller's transaction keeps,
        when the file cannot be applied to what the database holds."""
        current = await load_config(self._connection, self._vault)
        wanted = desired_config(file)
        _check_phones_free(file, current, wanted, prune=prune)
        summary = ImportSummary()
        await self._practice(current.practice, wanted.practice, summary)
        for therapist in wanted.therapists.values():
            await self._therapist(current.therapists.get(therapist.id), therapist, summary)
        if prune:
            # Before the clients are written: a client renamed in the file keeps its phone.
            await self._prune_clients(current, wanted, summary)
        await self._free_moving_phones(current, wanted)
        for client in wanted.clients.values():
            await self._client(current.clients.get(client.id), client, summary)
        if prune:
            await self._prune_therapists(current, wanted, summary)
        if summary.changed:
            await bump_config_version(self._connection)
            await append_events(self._connection, self._events)
        return summary

    async def _practice(
        self, old: PracticeInfo | None, new: PracticeInfo | None, summary: ImportSummary
    ) -> None:
        if new is None or old == new:
            return
        values = {
            "name": new.name,
            "country": new.country,
            "subdivision": new.subdivision,
            "timezone": new.timezone,
            "new_contact_reply": new.new_contact_reply,
            "on_call_enc": (
                self._vault.seal("practices", "on_call", "1", new.on_call) if new.on_call else None
            ),
            "closed": [period.as_json() for period in new.closed],
            "updated_at": self._now,
        }
        if old is None:
            await self._connection.execute(insert(PracticeRow), {"id": 1, **values})
            summary.created.append("practice")
            self._audit("practice_created", "practice")
        else:
            await self._connection.execute(
                update(PracticeRow).where(PracticeRow.id == 1).values(values)
            )
            summary.updated.append("practice")
            self._audit("practice_updated", "practice", fields=list(_changed_fields(old, new)))

    async def _therapist(
        self, old: TherapistInfo | None, new: TherapistInfo, summary: ImportSummary
    ) -> None:
        changed = _changed_fields(old, new) if old is not None else None
        if changed == []:
            return
        values = {
            "name": new.name,
            "number": new.number,
            "forward_to_enc": self._vault.seal("therapists", "forward_to", new.id, new.forward_to),
            "forward_to_index": self._vault.phone_index(new.forward_to),
            "forward": new.forward,
            "on_call_enc": (
                self._vault.seal("therapists", "on_call", new.id, new.on_call)
                if new.on_call
                else None
            ),
            "timezone": new.timezone,
            "public_holidays": new.public_holidays,
            "hours": new.hours,
            "updated_at": self._now,
        }
        subject = f"therapist:{new.id}"
        if old is None:
            await self._connection.execute(insert(TherapistRow), {"id": new.id, **values})
            summary.created.append(subject)
            self._audit("therapist_created", subject)
        else:
            await self._connection.execute(
                update(TherapistRow).where(TherapistRow.id == new.id).values(values)
            )
            summary.updated.append(subject)
            self._audit("therapist_updated", subject, fields=changed or [])
        if old is None or old.time_off != new.time_off:
            await replace_time_off(self._connection, new.id, new.time_off)
            if old is not None and old.time_off != new.time_off:
                self._audit("availability_changed", subject, change="time_off")

    async def _client(
        self, old: ClientInfo | None, new: ClientInfo, summary: ImportSummary
    ) -> None:
        changed = _changed_fields(old, new) if old is not None else None
        if changed == []:
            return
        values = {
            "name_enc": self._vault.seal("clients", "name", new.id, new.name),
            "phone_enc": self._vault.seal("clients", "phone", new.id, new.phone),
            "phone_index": self._vault.phone_index(new.phone),
            "therapist_id": new.therapist_id,
            "agreement_hours": new.agreement_hours,
            "agreement_note_enc": (
                self._vault.seal("clients", "agreement_note", new.id, new.agreement_note)
                if new.agreement_note is not None
                else None
            ),
            "agreement_note": None,
            "updated_at": self._now,
        }
        subject = f"client:{new.id}"
        if old is None:
            await self._connection.execute(
                insert(ClientRow), {"id": new.id, "created_at": self._now, **values}
            )
            summary.created.append(subject)
            self._audit("client_created", subject, therapist=new.therapist_id)
        else:
            await self._connection.execute(
                update(ClientRow).where(ClientRow.id == new.id).values(values)
            )
            summary.updated.append(subject)
            self._audit("client_updated", subject, fields=changed or [])

    async def _free_moving_phones(self, current: PracticeConfig, wanted: PracticeConfig) -> None:
        """Clients whose phone changes first let go of the old one, so that phones can move
        between clients (two swapped, one renamed) without a moment of two clients sharing
        one; the phone index is unique."""
        for client in wanted.clients.values():
            old = current.clients.get(client.id)
            if old is not None and old.phone != client.phone:
                await self._connection.execute(
                    update(ClientRow)
                    .where(ClientRow.id == client.id)
                    .values(phone_index=f"moving:{uuid.uuid4().hex}")
                )

    async def _prune_clients(
        self, current: PracticeConfig, wanted: PracticeConfig, summary: ImportSummary
    ) -> None:
        for client_id in sorted(current.clients.keys() - wanted.clients.keys()):
            await self._connection.execute(delete(ClientRow).where(ClientRow.id == client_id))
            summary.removed.append(f"client:{client_id}")
            self._audit("client_removed", f"client:{client_id}")

    async def _prune_therapists(
        self, current: PracticeConfig, wanted: PracticeConfig, summary: ImportSummary
    ) -> None:
        for therapist_id in sorted(current.therapists.keys() - wanted.therapists.keys()):
            await self._connection.execute(
                delete(TimeOffRow).where(TimeOffRow.therapist_id == therapist_id)
            )
            await self._connection.execute(
                delete(TherapistRow).where(TherapistRow.id == therapist_id)
            )
            summary.removed.append(f"therapist:{therapist_id}")
            self._audit("therapist_removed", f"therapist:{therapist_id}")
            await self._remove_access(therapist_id)

    async def _remove_access(self, therapist_id: str) -> None:
        """A removed therapist's tokens are revoked and their sign-ins removed, so that the
        id given again to someone else later brings none of them back."""
        revoked = await self._connection.execute(
            update(ApiTokenRow)
            .where(ApiTokenRow.therapist_id == therapist_id, ApiTokenRow.revoked_at.is_(None))
            .values(revoked_at=self._now)
            .returning(ApiTokenRow.id)
        )
        for token_id in sorted(revoked.scalars()):
            self._audit("token_revoked", f"token:{token_id}", why="therapist removed")
        users = sorted(
            (
                await self._connection.execute(
                    select(UserRow.id).where(UserRow.therapist_id == therapist_id)
                )
            ).scalars()
        )
        if users:
            await self._connection.execute(
                delete(WebSessionRow).where(WebSessionRow.user_id.in_(users))
            )
            await self._connection.execute(delete(UserRow).where(UserRow.id.in_(users)))
        for user_id in users:
            self._audit("user_removed", f"user:{user_id}", why="therapist removed")


async def replace_time_off(
    connection: AsyncConnection, therapist_id: str, periods: tuple[Period, ...]
) -> None:
    await connection.execute(delete(TimeOffRow).where(TimeOffRow.therapist_id == therapist_id))
    if periods:
        await connection.execute(
            insert(TimeOffRow),
            [
                {
                    "id": uuid.uuid4().hex,
                    "therapist_id": therapist_id,
                    "start": period.start,
                    "end": period.end,
                    "note": period.note,
                }
                for period in periods
            ],
        )


async def bump_config_version(connection: AsyncConnection) -> int:
    """Tell every process that configuration changed (they poll this counter)."""
    version = await read_config_version(connection) + 1
    result = await connection.execute(
        update(ConfigStateRow).where(ConfigStateRow.id == 1).values(version=version)
    )
    if result.rowcount == 0:
        await connection.execute(insert(ConfigStateRow), {"id": 1, "version": version})
    return version
