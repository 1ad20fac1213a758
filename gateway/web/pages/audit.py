"""The admin's audit page: messages and audit events filtered by client, therapist, flag and
dates, the chain's verification at the top, a body only after a reason, and the export."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, time, timedelta
from typing import Final
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from aiohttp import web

from gateway.api_services import export as export_service
from gateway.api_services.errors import InvalidInputError
from gateway.api_services.messages import (
    MessageFilter,
    MessageSummary,
    list_messages,
    read_message,
)
from gateway.directory import Directory
from gateway.http.api import export as export_format
from gateway.http.api.fields import FLAGS
from gateway.http.api.parsing import path_id
from gateway.http.keys import RUNTIME
from gateway.web.audit_trail import TrailFilter, audit_trail
from gateway.web.page import api_context, display_zone, form, parse_day, render, require_admin

SHOWN: Final = 200
MAX_REASON: Final = 500

Errors = dict[str, str]


def _day_start(text: str, zone: str, name: str, errors: Errors) -> datetime | None:
    if not text.strip():
        return None
    try:
        day = parse_day(text)
    except ValueError:
        errors[name] = "Enter a date as YYYY-MM-DD, between 1970 and 2199."
        return None
    return datetime.combine(day, time(), tzinfo=ZoneInfo(zone))


FILTER_FIELDS: Final = ("client", "therapist", "flag", "since", "until")


@dataclass(frozen=True, slots=True)
class _Filter:
    """The page's filter as typed, its errors, and what it asks of messages and events."""

    query: dict[str, str]
    errors: Errors
    messages: MessageFilter
    events: TrailFilter


def _read_filter(fields: Mapping[str, str], directory: Directory, zone: str) -> _Filter:
    query = {name: fields.get(name, "").strip() for name in FILTER_FIELDS}
    errors: Errors = {}
    if query["client"] and query["client"] not in directory.config.clients:
        errors["client"] = "Choose a client from the list."
    if query["therapist"] and query["therapist"] not in directory.config.therapists:
        errors["therapist"] = "Choose a therapist from the list."
    if query["flag"] and query["flag"] not in FLAGS:
        errors["flag"] = "Choose a flag from the list."
    since = _day_start(query["since"], zone, "since", errors)
    until_day = _day_start(query["until"], zone, "until", errors)
    if since is not None and until_day is not None and until_day < since:
        errors["until"] = "Choose a date on or after the first date."
    # The "until" date is included: the list runs to the end of that day.
    until = until_day + timedelta(days=1) if until_day is not None else None
    client, therapist = query["client"] or None, query["therapist"] or None
    flag = query["flag"] or None
    return _Filter(
        query,
        errors,
        MessageFilter(client, therapist, flag, since, until),
        TrailFilter(since, until, client, therapist, flag),
    )


def _older_events(text: str) -> int | None:
    if not text:
        return None
    if not text.isdigit() or len(text) > 18:
        raise InvalidInputError("before must be an audit sequence number")
    return int(text)


async def index(request: web.Request) -> web.StreamResponse:
    return await _audit_page(request, request.query)


async def _audit_page(
    request: web.Request,
    fields: Mapping[str, str],
    *,
    export_errors: Errors | None = None,
    export_reason: str = "",
) -> web.Response:
    """The page for the filter in `fields`; an export refused for its own fields comes back
    here with its errors next to them, the filter and the reason as they were typed."""
    who = require_admin(request)
    context = api_context(request)
    directory = context.directory()
    zone = display_zone(request)
    chosen = _read_filter(fields, directory, zone)
    messages: tuple[MessageSummary, ...] = ()
    older_cursor: str | None = None
    trail = None
    if not chosen.errors:
        page = await list_messages(
            context, who, chosen.messages, limit=SHOWN, cursor=fields.get("cursor")
        )
        messages, older_cursor = page.items, page.next
        events = replace(chosen.events, before=_older_events(fields.get("before", "")))
        trail = await audit_trail(request.app[RUNTIME].engine, who, events)
    filtered = {name: value for name, value in chosen.query.items() if value}
    errors = {**chosen.errors, **(export_errors or {})}
    return render(
        request,
        "audit.html",
        {
            "query": chosen.query,
            "errors": errors,
            "export_reason": export_reason,
            "messages": messages,
            "older_messages": (
                "/audit?" + urlencode({**filtered, "cursor": older_cursor})
                if older_cursor
                else None
            ),
            "older_events": (
                "/audit?" + urlencode({**filtered, "before": str(trail.older)})
                if trail is not None and trail.older is not None
                else None
            ),
            "trail": trail,
            "clients": sorted(directory.config.clients),
            "therapists": sorted(directory.config.therapists),
            "flags": FLAGS,
            "zone": zone,
        },
        status=400 if errors else 200,
    )


async def _message_page(
    request: web.Request, message_id: str, *, errors: Errors | None = None, status: int = 200
) -> web.Response:
    require_admin(request)
    return render(
        request,
        "audit_message.html",
        {
            "message_id": message_id,
            "errors": errors or {},
            "detail": None,
            "zone": display_zone(request),
        },
        status=status,
    )


async def show_message(request: web.Request) -> web.StreamResponse:
    return await _message_page(request, path_id(request, "message", "message"))


async def read_body(request: web.Request) -> web.StreamResponse:
    who = require_admin(request)
    message_id = path_id(request, "message", "message")
    reason = (await form(request)).get("reason", "").strip()
    problem = _reason_problem(reason, "Give a reason before opening a message")
    if problem is not None:
        return await _message_page(request, message_id, errors={"reason": problem}, status=400)
    detail = await read_message(api_context(request), who, message_id, reason)
    return render(
        request,
        "audit_message.html",
        {"message_id": message_id, "errors": {}, "detail": detail, "zone": display_zone(request)},
    )


def _reason_problem(reason: str, missing: str) -> str | None:
    """What is wrong with a reason to read or export, which the audit log keeps."""
    if not reason:
        return f"{missing}; it is kept in the audit log."
    if len(reason) > MAX_REASON or "\n" in reason:
        return f"Give the reason on one line, under {MAX_REASON} characters."
    return None


def _export_problems(reason: str, chosen: str) -> Errors:
    problems: Errors = {}
    problem = _reason_problem(reason, "Give a reason for the export")
    if problem is not None:
        problems["export-reason"] = problem
    if chosen not in ("csv", "jsonl"):
        problems["export-format"] = "Choose CSV or JSON lines."
    return problems


async def export(request: web.Request) -> web.StreamResponse:
    who = require_admin(request)
    fields = await form(request)
    reason = fields.get("reason", "").strip()
    chosen = fields.get("format", "csv")
    problems = _export_problems(reason, chosen)
    context = api_context(request)
    # The export takes the filter of the page it was asked from.
    wanted = _read_filter(fields, context.directory(), display_zone(request))
    if problems or wanted.errors:
        # A refused reason is not typed back: it may be the very thing that was too long.
        kept = "" if "export-reason" in problems else reason
        return await _audit_page(request, fields, export_errors=problems, export_reason=kept)
    file_format: export_service.ExportFormat = "csv" if chosen == "csv" else "jsonl"
    rows = await export_service.export_messages(
        context, who, export_service.ExportRequest(reason, file_format, wanted.messages)
    )
    # The API's own writers, so that the page and the API export the very same shape.
    if file_format == "csv":
        body, content_type = export_format._csv(rows), export_format.CSV
    else:
        body, content_type = export_format._jsonl(rows), export_format.JSONL
    return web.Response(
        body=body,
        content_type=content_type,
        charset="utf-8",
        headers={"Content-Disposition": f'attachment; filename="messages.{file_format}"'},
    )
