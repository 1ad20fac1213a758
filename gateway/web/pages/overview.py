"""The practice overview over a chosen period, charts drawn server-side as inline SVG."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Final
from zoneinfo import ZoneInfo

from aiohttp import web

from gateway.web.overview_stats import practice_overview
from gateway.web.page import api_context, caller, display_zone, local, now, parse_day, render

DEFAULT_DAYS: Final = 28
MAX_DAYS: Final = 366
DAY_LABELS: Final = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
# Five steps from pale to dark; the busiest hour of the period is the darkest.
SHADES: Final = ("#f4f6f8", "#cfe3f1", "#9cc7e4", "#5a9fd0", "#1f6fae", "#0b3d66")

Errors = dict[str, str]


def _date(text: str, fallback: date, name: str, errors: Errors) -> date:
    if not text.strip():
        return fallback
    try:
        return parse_day(text)
    except ValueError:
        errors[name] = "Enter a date as YYYY-MM-DD, between 1970 and 2199."
        return fallback


def shade(count: int, busiest: int) -> str:
    if count == 0 or busiest == 0:
        return SHADES[0]
    return SHADES[1 + min(4, (count * 5 - 1) // busiest)]


async def show(request: web.Request) -> web.StreamResponse:
    zone = display_zone(request)
    today = local(now(request), zone).date()
    errors: Errors = {}
    last = _date(request.query.get("until", ""), today, "until", errors)
    first = _date(
        request.query.get("since", ""), last - timedelta(days=DEFAULT_DAYS - 1), "since", errors
    )
    if last < first:
        errors["until"] = "The last day is before the first."
    elif (last - first).days >= MAX_DAYS:
        errors["since"] = f"Choose at most {MAX_DAYS} days."
    if errors:
        first, last = today - timedelta(days=DEFAULT_DAYS - 1), today
    tz = ZoneInfo(zone)
    since = datetime.combine(first, time(), tzinfo=tz)
    until = datetime.combine(last + timedelta(days=1), time(), tzinfo=tz)
    overview = await practice_overview(
        api_context(request), caller(request), since=since, until=until, zone=zone
    )
    return render(
        request,
        "overview.html",
        {
            "overview": overview,
            "first": first,
            "last": last,
            "errors": errors,
            "day_labels": DAY_LABELS,
            "shade": shade,
            "query": {"since": first.isoformat(), "until": last.isoformat()},
        },
        status=400 if errors else 200,
    )
