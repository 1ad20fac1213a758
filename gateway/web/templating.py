"""Filters the templates use to show times in the reader's zone."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, Final
from zoneinfo import ZoneInfo

from rules.wording import clock_time, zone_abbreviation

_DAYS: Final = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS: Final = (
    "Jan",
    "Feb",
    "Mar",
    "Apr",
    "May",
    "Jun",
    "Jul",
    "Aug",
    "Sep",
    "Oct",
    "Nov",
    "Dec",
)


def when(moment: datetime | None, zone: str) -> str:
    """ "Tue Dec 1, 10:00 AM EST" in `zone`."""
    if moment is None:
        return ""
    local = moment.astimezone(ZoneInfo(zone))
    return (
        f"{_DAYS[local.weekday()]} {_MONTHS[local.month - 1]} {local.day}, "
        f"{clock_time(local)} {zone_abbreviation(local)}"
    )


def iso(moment: datetime | None) -> str:
    return moment.isoformat() if moment is not None else ""


def seconds(value: float | None) -> str:
    if value is None:
        return "none sent"
    return f"{value:.0f} s" if value < 120 else f"{value / 60:.1f} min"


FILTERS: Final[dict[str, Callable[..., Any]]] = {"when": when, "iso": iso, "seconds": seconds}
