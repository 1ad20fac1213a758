"""Preview as a client: what the gateway would do with a message at a chosen local time,
decided by the webhook's own `rules.decide` (through the API's preview use case); nothing is
sent, stored or audited."""

from __future__ import annotations

import re
from datetime import date, datetime, time
from typing import Final
from zoneinfo import ZoneInfo

from aiohttp import web

from gateway.api_services import preview as service
from gateway.api_services.errors import ForbiddenError, InvalidInputError
from gateway.web.page import api_context, caller, display_zone, form, local, now, render

UNKNOWN: Final = "unknown"
MAX_BODY: Final = 1600
_PHONE_LIKE: Final = re.compile(r"\+?[0-9A-Za-z]{3,15}")

Errors = dict[str, str]


def _choices(request: web.Request) -> tuple[list[dict[str, str]], list[str]]:
    """The clients this person may play, and the practice numbers (for an unknown sender)."""
    who = caller(request)
    directory = api_context(request).directory()
    clients = [
        {"id": c.id, "label": f"{c.name} ({c.id})"}
        for c in sorted(directory.config.clients.values(), key=lambda c: c.id)
        if who.is_admin or c.therapist_id == who.therapist_id
    ]
    return clients, sorted(directory.practice_numbers)


def _view(
    request: web.Request,
    *,
    values: dict[str, str],
    errors: Errors | None = None,
    result: service.PreviewResult | None = None,
    zone: str | None = None,
    status: int = 200,
) -> web.Response:
    clients, numbers = _choices(request)
    return render(
        request,
        "preview.html",
        {
            "clients": clients,
            "numbers": numbers,
            "unknown_allowed": caller(request).is_admin,
            "values": values,
            "errors": errors or {},
            "result": result,
            "zone": zone,
        },
        status=status,
    )


async def show(request: web.Request) -> web.StreamResponse:
    zone = display_zone(request)
    moment = local(now(request), zone)
    clients, _ = _choices(request)
    values = {
        "client": clients[0]["id"] if clients else "",
        "date": moment.date().isoformat(),
        "time": moment.strftime("%H:%M"),
        "body": "",
    }
    return _view(request, values=values)


def _when(fields: dict[str, str], zone: str, errors: Errors) -> datetime | None:
    try:
        day = date.fromisoformat(fields.get("date", "").strip())
    except ValueError:
        errors["date"] = "Enter a date as YYYY-MM-DD."
        day = None
    try:
        clock = time.fromisoformat(fields.get("time", "").strip())
    except ValueError:
        errors["time"] = "Enter a time as HH:MM."
        clock = None
    if day is None or clock is None:
        return None
    return datetime.combine(day, clock.replace(tzinfo=None), tzinfo=ZoneInfo(zone))


async def submit(request: web.Request) -> web.StreamResponse:
    fields = await form(request)
    who = caller(request)
    directory = api_context(request).directory()
    errors: Errors = {}
    body = fields.get("body", "")
    if len(body) > MAX_BODY:
        errors["body"] = f"A text message holds at most {MAX_BODY} characters."
    chosen = fields.get("client", "")
    sender = recipient = ""
    zone = display_zone(request)
    if chosen == UNKNOWN and who.is_admin:
        sender = fields.get("from", "").strip()
        recipient = fields.get("to", "")
        if not _PHONE_LIKE.fullmatch(sender):
            errors["from"] = "Enter the sender as +15550001111 (or a short code)."
        if recipient not in directory.practice_numbers:
            errors["to"] = "Choose one of the practice's numbers."
    else:
        client = directory.config.clients.get(chosen)
        if client is None or not (who.is_admin or client.therapist_id == who.therapist_id):
            errors["client"] = "Choose one of the clients listed."
        else:
            sender = client.phone
            therapist = directory.therapist_info(client.therapist_id)
            recipient = therapist.number
            zone = therapist.timezone
    at = _when(fields, zone, errors)
    if errors or at is None:
        return _view(request, values=fields, errors=errors, status=400)
    try:
        result = service.preview(
            api_context(request), who, service.PreviewRequest(sender, recipient, body, at)
        )
    except (InvalidInputError, ForbiddenError) as exc:
        return _view(request, values=fields, errors={"date": exc.message}, status=400)
    return _view(request, values=fields, result=result, zone=zone)
