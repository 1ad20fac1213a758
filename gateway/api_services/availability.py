"""A therapist's availability through the API: weekly hours, public holidays and time off.

Every change is audited, bumps the configuration version in the same transaction (so every
process reloads it) and is reloaded here at once, so the next webhook follows it.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import Row, delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.api_services.caller import Caller
from gateway.api_services.context import ApiContext
from gateway.api_services.errors import InvalidInputError, NotFoundError
from gateway.audit.chain import JSONValue
from gateway.audit.store import AuditEvent, append_events
from gateway.db.engine import reader
from gateway.db.tables import TherapistRow, TimeOffRow
from gateway.importer import bump_config_version
from rules.schedule import DateRange, ScheduleError, format_weekly_hours, parse_weekly_hours


@dataclass(frozen=True, slots=True)
class TimeOffEntry:
    id: str
    start: date
    end: date
    note: str


@dataclass(frozen=True, slots=True)
class Availability:
    therapist: str
    timezone: str
    hours: dict[str, list[str]]
    public_holidays: bool
    time_off: tuple[TimeOffEntry, ...]


async def _therapist(connection: AsyncConnection, therapist_id: str) -> Row[Any]:
    row = (
        await connection.execute(select(TherapistRow).where(TherapistRow.id == therapist_id))
    ).first()
    if row is None:
        raise NotFoundError(f"no therapist {therapist_id}")
    return row


async def _availability(connection: AsyncConnection, therapist_id: str) -> Availability:
    therapist = await _therapist(connection, therapist_id)
    entries = (
        await connection.execute(
            select(TimeOffRow)
            .where(TimeOffRow.therapist_id == therapist_id)
            .order_by(TimeOffRow.start, TimeOffRow.end, TimeOffRow.id)
        )
    ).all()
    return Availability(
        therapist=therapist.id,
        timezone=therapist.timezone,
        hours=dict(therapist.hours),
        public_holidays=therapist.public_holidays,
        time_off=tuple(TimeOffEntry(e.id, e.start, e.end, e.note) for e in entries),
    )


async def _record_change(
    context: ApiContext,
    connection: AsyncConnection,
    caller: Caller,
    therapist_id: str,
    details: Mapping[str, JSONValue],
) -> None:
    await bump_config_version(connection)
    await append_events(
        connection,
        [
            AuditEvent(
                context.clock.now(),
                caller.actor,
                "availability_changed",
                f"therapist:{therapist_id}",
                details,
            )
        ],
    )


async def get_availability(context: ApiContext, caller: Caller, therapist_id: str) -> Availability:
    caller.require_manages(therapist_id)
    async with reader(context.engine).connect() as connection:
        return await _availability(connection, therapist_id)


def normal_hours(hours: Mapping[str, Sequence[str]]) -> dict[str, list[str]]:
    """Hours as stored: windows validated, merged and in weekday order."""
    try:
        return format_weekly_hours(parse_weekly_hours(hours))
    except ScheduleError as exc:
        raise InvalidInputError(f"hours: {exc}") from None


async def set_hours(
    context: ApiContext,
    caller: Caller,
    therapist_id: str,
    hours: Mapping[str, Sequence[str]],
    public_holidays: bool | None,
) -> Availability:
    caller.require_manages(therapist_id)
    normal = normal_hours(hours)
    async with context.engine.begin() as connection:
        therapist = await _therapist(connection, therapist_id)
        holidays = therapist.public_holidays if public_holidays is None else public_holidays
        if (dict(therapist.hours), therapist.public_holidays) == (normal, holidays):
            # Sent again unchanged (a retry, a form saved twice): nothing to write or audit.
            return await _availability(connection, therapist_id)
        await connection.execute(
            update(TherapistRow)
            .where(TherapistRow.id == therapist_id)
            .values(hours=normal, public_holidays=holidays, updated_at=context.clock.now())
        )
        # Before and after, so that "when could this client reach them?" can be answered
        # for any past instant from the audit log alone.
        hours_before: dict[str, JSONValue] = {
            day: list(windows) for day, windows in dict(therapist.hours).items()
        }
        hours_after: dict[str, JSONValue] = {day: list(w) for day, w in normal.items()}
        await _record_change(
            context,
            connection,
            caller,
            therapist_id,
            {
                "change": "hours",
                "public_holidays": holidays,
                "hours": hours_after,
                "hours_before": hours_before,
            },
        )
        availability = await _availability(connection, therapist_id)
    await context.configuration_changed()
    return availability


async def add_time_off(
    context: ApiContext,
    caller: Caller,
    therapist_id: str,
    *,
    start: date,
    end: date,
    note: str,
) -> TimeOffEntry:
    caller.require_manages(therapist_id)
    try:
        DateRange(start, end, note)
    except ScheduleError as exc:
        raise InvalidInputError(str(exc)) from None
    entry = TimeOffEntry(uuid.uuid4().hex, start, end, note)
    async with context.engine.begin() as connection:
        await _therapist(connection, therapist_id)
        await connection.execute(
            insert(TimeOffRow),
            {
                "id": entry.id,
                "therapist_id": therapist_id,
                "start": start,
                "end": end,
                "note": note,
            },
        )
        await _record_change(
            context,
            connection,
            caller,
            therapist_id,
            {
                "change": "time_off_added",
                "entry": entry.id,
                "start": start.isoformat(),
                "end": end.isoformat(),
            },
        )
    await context.configuration_changed()
    return entry


async def remove_time_off(
    context: ApiContext, caller: Caller, therapist_id: str, entry_id: str
) -> None:
    caller.require_manages(therapist_id)
    async with context.engine.begin() as connection:
        removed = await connection.execute(
            delete(TimeOffRow).where(
                TimeOffRow.id == entry_id, TimeOffRow.therapist_id == therapist_id
            )
        )
        if removed.rowcount == 0:
            raise NotFoundError(f"no time off {entry_id} for therapist {therapist_id}")
        await _record_change(
            context,
            connection,
            caller,
            therapist_id,
            {"change": "time_off_removed", "entry": entry_id},
        )
    await context.configuration_changed()
