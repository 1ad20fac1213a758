"""What every page handler needs: the signed-in person, the API context, the form, and a
rendered template."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp_jinja2
from aiohttp import web

from gateway.api_services.context import ApiContext
from gateway.api_services.errors import ForbiddenError
from gateway.api_services.preview import EARLIEST, LATEST
from gateway.http.api.parsing import context_of
from gateway.http.keys import RUNTIME
from gateway.web.caller import WebCaller
from gateway.web.keys import SESSION
from gateway.web.sessions import WebSession

__all__ = ["api_context", "caller", "display_zone", "form", "render", "session"]


def session(request: web.Request) -> WebSession:
    return request[SESSION]


def caller(request: web.Request) -> WebCaller:
    return WebCaller.from_user(session(request).user)


def require_admin(request: web.Request) -> WebCaller:
    who = caller(request)
    if not who.is_admin:
        raise ForbiddenError("this page is for admins")
    return who


def require_therapist(request: web.Request) -> WebCaller:
    who = caller(request)
    if who.is_admin or who.therapist_id is None:
        raise ForbiddenError("this page is for therapists")
    return who


def api_context(request: web.Request) -> ApiContext:
    return context_of(request)


def now(request: web.Request) -> datetime:
    return request.app[RUNTIME].clock.now()


def display_zone(request: web.Request) -> str:
    """Times read in the therapist's zone, for admins in the practice's."""
    directory = api_context(request).directory()
    therapist_id = session(request).user.therapist_id
    if therapist_id is not None and therapist_id in directory.therapists:
        return directory.therapists[therapist_id].schedule.timezone
    practice = directory.practice
    return practice.timezone if practice is not None else "UTC"


async def form(request: web.Request) -> dict[str, str]:
    """The posted fields; a field given twice keeps its first value, files are ignored."""
    values: dict[str, str] = {}
    for name, value in (await request.post()).items():
        if isinstance(value, str) and name not in values:
            values[name] = value
    return values


def parse_day(text: str) -> date:
    """A date typed in a filter, YYYY-MM-DD, within the years the gateway reasons about (a
    far date would overflow the day arithmetic around it). ValueError otherwise."""
    day = date.fromisoformat(text.strip())
    if not EARLIEST.year <= day.year < LATEST.year:
        raise ValueError("out of range")
    return day


def local(moment: datetime, zone: str) -> datetime:
    return moment.astimezone(ZoneInfo(zone))


def render(
    request: web.Request, template: str, values: Mapping[str, Any], status: int = 200
) -> web.Response:
    # Values every template uses, added here rather than by aiohttp_jinja2's context
    # processors, whose middleware stores them under a plain string key on the request.
    signed_in = request.get(SESSION)
    common: dict[str, Any] = {
        "user": signed_in.user if signed_in else None,
        "path": request.path,
    }
    if signed_in is not None:
        common["csrf_token"] = signed_in.csrf_token
    return aiohttp_jinja2.render_template(template, request, common | dict(values), status=status)
