"""How openings and states are put into words for clients and for the therapist's screen.

English names are spelled out here rather than taken from strftime, whose %A and %p follow
the process locale: a reply must read the same on every server.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from rules.hours import is_open, next_opening, open_until
from rules.schedule import Schedule, Window, check_timezone

__all__ = ["clock_time", "describe_opening", "describe_state", "zone_abbreviation"]

_DAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_MONTH_NAMES = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
# "Monday at ..." is only unambiguous while the named day is within the coming week.
_MAX_DAYS_BY_NAME = 6
_MAX_DAYS_WITHOUT_YEAR = 183


def _local(moment: datetime, name: str, zone: ZoneInfo) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must be an aware datetime (with a time zone), got {moment!r}")
    return moment.astimezone(zone)


def clock_time(local: datetime) -> str:
    """ "9:00 AM", "12:30 PM", "12:00 AM" (midnight): hours unpadded, minutes always two digits."""
    hour = local.hour % 12 or 12
    return f"{hour}:{local.minute:02d} {'AM' if local.hour < 12 else 'PM'}"


def zone_abbreviation(local: datetime) -> str:
    """The zone's abbreviation at `local` ("EST", "BST"), or its UTC offset ("UTC+4",
    "UTC-3:30") where the zone database has only numbers for it ("+04")."""
    name = local.tzname()
    if name and any(char.isalpha() for char in name):
        return name
    offset = local.utcoffset() or timedelta()
    sign = "-" if offset < timedelta() else "+"
    minutes = abs(offset) // timedelta(minutes=1)
    hours, minutes = divmod(minutes, 60)
    return f"UTC{sign}{hours}:{minutes:02d}" if minutes else f"UTC{sign}{hours}"


def describe_opening(opening: datetime, now: datetime, timezone: str) -> str:
    """ "today at 1:00 PM EST", "tomorrow at 9:00 AM EST", "Monday at 9:00 AM EST", or with
    the date when more than six calendar days away: "Monday, July 12 at 9:00 AM EDT", and the
    year too when more than half a year away: "Monday, December 6, 2027 at 9:00 AM EST".

    Calendar days are counted in `timezone`, the therapist's zone.
    """
    zone = ZoneInfo(check_timezone(timezone))
    when = _local(opening, "opening", zone)
    days = (when.date() - _local(now, "now", zone).date()).days
    weekday = _DAY_NAMES[when.weekday()]
    if days == 0:
        day = "today"
    elif days == 1:
        day = "tomorrow"
    elif 1 < days <= _MAX_DAYS_BY_NAME:
        day = weekday
    else:
        # Also for a moment already past: a bare weekday name would point into the future.
        day = f"{weekday}, {_MONTH_NAMES[when.month - 1]} {when.day}"
        if abs(days) > _MAX_DAYS_WITHOUT_YEAR:
            # "December 6" read on December 5 means tomorrow, not next year.
            day = f"{day}, {when.year}"
    return f"{day} at {clock_time(when)} {zone_abbreviation(when)}"


def describe_state(schedule: Schedule, at: datetime, agreement: Sequence[Window] = ()) -> str:
    """One line for a state display: "Open until 5:00 PM EST",
    "Closed; next opening Monday at 9:00 AM EST" or "Closed; no opening within a year"."""
    zone = schedule.zone
    now = _local(at, "at", zone)
    if is_open(schedule, now, agreement).open:
        until = open_until(schedule, now, agreement)
        if until is None:
            return "Open; no closing within a year"
        if until.date() == now.date():
            return f"Open until {clock_time(until)} {zone_abbreviation(until)}"
        return f"Open until {describe_opening(until, now, schedule.timezone)}"
    opening = next_opening(schedule, now, agreement)
    if opening is None:
        return "Closed; no opening within a year"
    return f"Closed; next opening {describe_opening(opening.at, now, schedule.timezone)}"
