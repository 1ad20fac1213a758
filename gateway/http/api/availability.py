"""/api/v1/therapists/{id}/...: weekly hours and time off, in the practice file's shape."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from aiohttp import web
from pydantic import ConfigDict, Field

from gateway.api_services import availability as availability_service
from gateway.api_services.errors import InvalidInputError
from gateway.http.api.auth import caller_of
from gateway.http.api.fields import BodyModel, Note
from gateway.http.api.parsing import context_of, parse_body, path_id
from gateway.http.api.rendering import render
from gateway.http.api.spec import EVERYONE, Operation, Reply

WindowText = Annotated[str, Field(min_length=1, max_length=32)]


class TimeOffShown(BodyModel):
    id: str
    start: date
    end: date
    note: str


class HoursBody(BodyModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "hours": {"mon": ["09:00-12:00", "13:00-17:00"], "fri": ["21:00-02:00"]},
                    "public_holidays": True,
                }
            ]
        }
    )

    # Days left out are closed; windows are "HH:MM-HH:MM", an end before the start runs past
    # midnight. Checked by rules.schedule, which names the day and window at fault.
    hours: Annotated[
        dict[str, Annotated[list[WindowText], Field(max_length=48)]], Field(max_length=7)
    ]
    # Left out: unchanged.
    public_holidays: bool | None = None
    # The rest of what GET answers, so that its answer can be edited and sent back whole.
    # Not changed here: they must be what is in force.
    therapist: str | None = None
    timezone: str | None = None
    time_off: list[TimeOffShown] | None = None


class TimeOffBody(BodyModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"start": "2026-12-24", "end": "2026-12-26", "note": "Holidays"}]
        }
    )

    start: date
    end: date  # inclusive
    note: Note = ""


async def get_hours(request: web.Request) -> web.Response:
    therapist_id = path_id(request, "id", "therapist")
    availability = await availability_service.get_availability(
        context_of(request), caller_of(request), therapist_id
    )
    return render(availability)


def _changes_beyond_hours(
    body: HoursBody, current: availability_service.Availability
) -> str | None:
    """What the body would change besides hours and public holidays, which a PUT of hours
    cannot do (it would otherwise be silently ignored)."""
    if body.therapist is not None and body.therapist != current.therapist:
        return f"therapist is {current.therapist!r}, the therapist of this path"
    if body.timezone is not None and body.timezone != current.timezone:
        return "timezone is set in the practice file (gateway import); it cannot change here"
    if body.time_off is not None:
        sent = {(e.id, e.start, e.end, e.note) for e in body.time_off}
        if sent != {(e.id, e.start, e.end, e.note) for e in current.time_off}:
            return (
                "time_off changes through POST and DELETE /therapists/{id}/time-off; "
                "send it unchanged or leave it out"
            )
    return None


async def put_hours(request: web.Request) -> web.Response:
    therapist_id = path_id(request, "id", "therapist")
    # Whose availability it is comes before what the body says: another therapist's is 403
    # whatever was sent.
    caller_of(request).require_manages(therapist_id)
    body = await parse_body(request, HoursBody)
    if (body.therapist, body.timezone, body.time_off) != (None, None, None):
        current = await availability_service.get_availability(
            context_of(request), caller_of(request), therapist_id
        )
        problem = _changes_beyond_hours(body, current)
        if problem is not None:
            raise InvalidInputError(problem)
    availability = await availability_service.set_hours(
        context_of(request), caller_of(request), therapist_id, body.hours, body.public_holidays
    )
    return render(availability)


async def add_time_off(request: web.Request) -> web.Response:
    therapist_id = path_id(request, "id", "therapist")
    caller_of(request).require_manages(therapist_id)
    body = await parse_body(request, TimeOffBody)
    entry = await availability_service.add_time_off(
        context_of(request),
        caller_of(request),
        therapist_id,
        start=body.start,
        end=body.end,
        note=body.note,
    )
    return render(entry, 201)


async def remove_time_off(request: web.Request) -> web.Response:
    therapist_id = path_id(request, "id", "therapist")
    entry_id = path_id(request, "entry", "time off entry")
    await availability_service.remove_time_off(
        context_of(request), caller_of(request), therapist_id, entry_id
    )
    return web.Response(status=204)


OPERATIONS = (
    Operation(
        "GET",
        "/therapists/{id}/hours",
        get_hours,
        "A therapist's weekly hours, public-holiday setting and time off",
        EVERYONE,
        {200: Reply("The therapist's availability", availability_service.Availability)},
    ),
    Operation(
        "PUT",
        "/therapists/{id}/hours",
        put_hours,
        "Replace a therapist's weekly hours (and optionally the public-holiday setting)",
        EVERYONE,
        {200: Reply("The availability now in force", availability_service.Availability)},
        body=HoursBody,
    ),
    Operation(
        "POST",
        "/therapists/{id}/time-off",
        add_time_off,
        "Add time off (inclusive dates)",
        EVERYONE,
        {201: Reply("The new entry with its id", availability_service.TimeOffEntry)},
        body=TimeOffBody,
    ),
    Operation(
        "DELETE",
        "/therapists/{id}/time-off/{entry}",
        remove_time_off,
        "Remove one time-off entry",
        EVERYONE,
        {204: Reply("Removed")},
    ),
)
