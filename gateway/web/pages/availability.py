"""A therapist's availability: the week as a grid of windows, public holidays, time off, and
the state right now in one line. Each change goes through the API's use case (validated,
audited, reloaded at once); on a validation error the page shows it next to the field and
nothing is saved."""

from __future__ import annotations

from datetime import date
from typing import Final

from aiohttp import web

from gateway.api_services import availability as service
from gateway.api_services.errors import InvalidInputError
from gateway.http.api.fields import storable_text_problem
from gateway.http.api.parsing import path_id
from gateway.web.page import api_context, caller, form, now, render
from rules.schedule import DAY_MINUTES, WEEKDAYS, ScheduleError, parse_time_of_day, parse_window
from rules.wording import describe_state

DAY_NAMES: Final = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
MAX_NOTE: Final = 200

Errors = dict[str, str]


def _page_of(therapist_id: str) -> str:
    return f"/availability/{therapist_id}"


async def index(request: web.Request) -> web.StreamResponse:
    who = caller(request)
    if not who.is_admin:
        raise web.HTTPSeeOther(_page_of(who.own_therapist()))
    directory = api_context(request).directory()
    therapists = sorted(directory.config.therapists.values(), key=lambda t: t.name)
    return render(request, "availability_index.html", {"therapists": therapists})


async def _view(
    request: web.Request,
    therapist_id: str,
    *,
    errors: Errors | None = None,
    values: dict[str, str] | None = None,
    status: int = 200,
) -> web.Response:
    context = api_context(request)
    availability = await service.get_availability(context, caller(request), therapist_id)
    directory = context.directory()
    info = directory.therapist_info(therapist_id)
    state = describe_state(directory.therapists[therapist_id].schedule, now(request))
    week = [
        {"key": key, "name": DAY_NAMES[index], "windows": availability.hours.get(key, [])}
        for index, key in enumerate(WEEKDAYS)
    ]
    return render(
        request,
        "availability.html",
        {
            "therapist": info,
            "availability": availability,
            "state": state,
            "week": week,
            "days": list(zip(WEEKDAYS, DAY_NAMES, strict=True)),
            "errors": errors or {},
            "values": values or {},
        },
        status=status,
    )


async def show(request: web.Request) -> web.StreamResponse:
    return await _view(request, path_id(request, "therapist", "therapist"))


def _window_text(fields: dict[str, str], errors: Errors) -> tuple[int, str] | None:
    day = fields.get("day", "")
    if day not in WEEKDAYS:
        errors["day"] = "Choose a day of the week."
        return None
    start, end = fields.get("start", "").strip(), fields.get("end", "").strip()
    # Each time on its own, so that its error shows next to it and what was typed is not
    # echoed; the window as a whole is checked after.
    if _time_of_day(start) in (None, DAY_MINUTES):
        errors["start"] = "Enter a time as HH:MM, from 00:00 to 23:59."
    if _time_of_day(end) is None:
        errors["end"] = "Enter a time as HH:MM, from 00:00 to 24:00."
    if errors:
        return None
    text = f"{start}-{end}"
    try:
        parse_window(WEEKDAYS.index(day), text)
    except ScheduleError as exc:
        errors["end" if start != "24:00" else "start"] = f"{exc}."
        return None
    return WEEKDAYS.index(day), text


def _time_of_day(text: str) -> int | None:
    try:
        return parse_time_of_day(text)
    except ScheduleError:
        return None


async def _save_hours(
    request: web.Request,
    therapist_id: str,
    hours: dict[str, list[str]],
    public_holidays: bool | None = None,
) -> None:
    await service.set_hours(
        api_context(request), caller(request), therapist_id, hours, public_holidays
    )


async def add_window(request: web.Request) -> web.StreamResponse:
    therapist_id = path_id(request, "therapist", "therapist")
    fields = await form(request)
    errors: Errors = {}
    parsed = _window_text(fields, errors)
    if parsed is None:
        return await _view(request, therapist_id, errors=errors, values=fields, status=400)
    current = await service.get_availability(api_context(request), caller(request), therapist_id)
    hours = {day: list(windows) for day, windows in current.hours.items()}
    hours.setdefault(WEEKDAYS[parsed[0]], []).append(parsed[1])
    await _save_hours(request, therapist_id, hours)
    raise web.HTTPSeeOther(_page_of(therapist_id))


async def remove_window(request: web.Request) -> web.StreamResponse:
    therapist_id = path_id(request, "therapist", "therapist")
    fields = await form(request)
    current = await service.get_availability(api_context(request), caller(request), therapist_id)
    day, window = fields.get("day", ""), fields.get("window", "")
    windows = current.hours.get(day, [])
    if window not in windows:
        # Another tab may have removed it already; showing the page as it is says so.
        raise web.HTTPSeeOther(_page_of(therapist_id))
    hours = {
        key: [w for w in texts if key != day or w != window] for key, texts in current.hours.items()
    }
    await _save_hours(request, therapist_id, {key: texts for key, texts in hours.items() if texts})
    raise web.HTTPSeeOther(_page_of(therapist_id))


async def set_holidays(request: web.Request) -> web.StreamResponse:
    therapist_id = path_id(request, "therapist", "therapist")
    fields = await form(request)
    current = await service.get_availability(api_context(request), caller(request), therapist_id)
    await _save_hours(request, therapist_id, current.hours, fields.get("public_holidays") == "on")
    raise web.HTTPSeeOther(_page_of(therapist_id))


def _date(fields: dict[str, str], name: str, errors: Errors) -> date | None:
    try:
        return date.fromisoformat(fields.get(name, "").strip())
    except ValueError:
        errors[name] = "Enter a date as YYYY-MM-DD."
        return None


async def add_time_off(request: web.Request) -> web.StreamResponse:
    therapist_id = path_id(request, "therapist", "therapist")
    fields = await form(request)
    errors: Errors = {}
    start = _date(fields, "first_day", errors)
    end = _date(fields, "last_day", errors)
    note = fields.get("note", "").strip()
    if len(note) > MAX_NOTE:
        errors["note"] = f"Keep the note under {MAX_NOTE} characters."
    elif storable_text_problem(note) is not None:
        errors["note"] = "The note holds characters that cannot be kept (control characters)."
    if start is not None and end is not None and end < start:
        errors["last_day"] = "The last day is before the first."
    if errors or start is None or end is None:
        return await _view(request, therapist_id, errors=errors, values=fields, status=400)
    try:
        await service.add_time_off(
            api_context(request), caller(request), therapist_id, start=start, end=end, note=note
        )
    except InvalidInputError as exc:
        errors["last_day"] = exc.message
        return await _view(request, therapist_id, errors=errors, values=fields, status=400)
    raise web.HTTPSeeOther(_page_of(therapist_id))


async def remove_time_off(request: web.Request) -> web.StreamResponse:
    therapist_id = path_id(request, "therapist", "therapist")
    entry = path_id(request, "entry", "time off entry")
    await service.remove_time_off(api_context(request), caller(request), therapist_id, entry)
    raise web.HTTPSeeOther(_page_of(therapist_id))
