"""A therapist's weekly contact hours and the dates that close them, as plain values.

Everything here is parsed and validated once (at import of the practice file or through the
API); `rules.hours` then works on these values without re-checking them.
"""

from __future__ import annotations

import functools
import re
import zoneinfo
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from types import MappingProxyType

__all__ = [
    "DAY_MINUTES",
    "WEEKDAYS",
    "DateRange",
    "Schedule",
    "ScheduleError",
    "Window",
    "check_timezone",
    "format_weekly_hours",
    "merge_windows",
    "parse_time_of_day",
    "parse_weekly_hours",
    "parse_window",
]

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DAY_MINUTES = 24 * 60
_WEEK_MINUTES = 7 * DAY_MINUTES

# Digits are spelled [0-9] because \d also matches non-ASCII digits, which int() would accept.
_TIME_OF_DAY = re.compile(r"([0-9]{1,2}):([0-9]{2})")
_WINDOW = re.compile(r"\s*([^\s-]+)\s*-\s*([^\s-]+)\s*")

# Present in the zone database but not places: "localtime" follows the host's own setting
# (so the same file would mean different things on different servers), "Factory" is a
# placeholder with no real offset.
_NOT_PLACES = frozenset({"localtime", "Factory", "posixrules"})


class ScheduleError(ValueError):
    """Hours, dates or a time zone that cannot be used; the message says exactly what is wrong."""


@dataclass(frozen=True, slots=True)
class Window:
    """A weekly stretch of local wall-clock time, half-open: [start, end).

    An `end` at or before `start` runs past midnight into the next day; the window still
    belongs to the day it starts on.
    """

    day: int  # 0 = Monday
    start: int  # minutes after local midnight, 0..1439
    end: int  # 1..1440; end <= start means it runs past midnight into the next day

    def __post_init__(self) -> None:
        if not 0 <= self.day <= 6:
            raise ScheduleError(f"window day {self.day} is not 0 (Monday) to 6 (Sunday)")
        if not 0 <= self.start < DAY_MINUTES:
            raise ScheduleError(f"window start {self.start} is not a minute of the day (0-1439)")
        if not 0 < self.end <= DAY_MINUTES:
            raise ScheduleError(f"window end {self.end} is not a minute of the day (1-1440)")
        if self.start == self.end:
            raise ScheduleError(f'window "{self.text}" starts and ends at the same time')

    @property
    def overnight(self) -> bool:
        return self.end <= self.start

    @property
    def end_offset(self) -> int:
        """Minutes from midnight of the start day to the end (above 1440 when overnight)."""
        return self.end + DAY_MINUTES if self.overnight else self.end

    @property
    def text(self) -> str:
        return f"{_clock(self.start)}-{_clock(self.end)}"

    @property
    def label(self) -> str:
        return f"{WEEKDAYS[self.day]} {self.text}"


@dataclass(frozen=True, slots=True)
class DateRange:
    """Local calendar dates from `start` to `end`, both included."""

    start: date
    end: date  # inclusive
    note: str = ""

    def __post_init__(self) -> None:
        # datetime is a subclass of date, and comparing one with a date raises deep inside the
        # engine; refuse it here where the mistake is made.
        if isinstance(self.start, datetime) or isinstance(self.end, datetime):
            raise ScheduleError(f"date range {self.start}..{self.end} must use dates, not times")
        if self.start > self.end:
            raise ScheduleError(
                f"date range {self.start.isoformat()}..{self.end.isoformat()} ends before it starts"
            )

    def __contains__(self, day: object) -> bool:
        return isinstance(day, date) and self.start <= day <= self.end

    @property
    def label(self) -> str:
        return f"{self.start.isoformat()}..{self.end.isoformat()}"


def _no_holidays() -> Mapping[date, str]:
    return MappingProxyType({})


@dataclass(frozen=True, slots=True)
class Schedule:
    """When one therapist can be reached, in their own time zone.

    `holidays` maps local dates to a holiday name. It is usually a `holidays`-package calendar,
    which fills in each year on first lookup; it is only ever read with `.get(day)`, never
    iterated, so that laziness keeps working. It is left out of the hash because such a
    calendar is a dict.
    """

    timezone: str
    hours: tuple[Window, ...]
    time_off: tuple[DateRange, ...] = ()
    closures: tuple[DateRange, ...] = ()
    holidays: Mapping[date, str] = field(default_factory=_no_holidays, hash=False)

    def __post_init__(self) -> None:
        check_timezone(self.timezone)
        # Lists slip in easily from parsed files; tuples keep the value really frozen.
        for name in ("hours", "time_off", "closures"):
            value = getattr(self, name)
            if not isinstance(value, tuple):
                object.__setattr__(self, name, tuple(value))

    @property
    def zone(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.timezone)


def _clock(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


def parse_time_of_day(text: str) -> int:
    """Minutes since midnight of "HH:MM", 00:00 to 24:00 (24:00 is only ever an end)."""
    match = _TIME_OF_DAY.fullmatch(text)
    hours, minutes = (int(match[1]), int(match[2])) if match else (-1, -1)
    if not (0 <= hours <= 23 and 0 <= minutes <= 59) and (hours, minutes) != (24, 0):
        raise ScheduleError(f'"{text}" is not a time of day (HH:MM, 00:00-24:00)')
    return hours * 60 + minutes


def parse_window(day: int, text: str) -> Window:
    """Parse "HH:MM-HH:MM" for weekday `day` (0 = Monday).

    "24:00" is allowed only as an end; an end before the start runs past midnight.
    """
    if not text.strip():
        raise ScheduleError(f'window "{text}" is empty; expected HH:MM-HH:MM')
    match = _WINDOW.fullmatch(text)
    if match is None:
        raise ScheduleError(f'window "{text}" is not HH:MM-HH:MM')
    start = parse_time_of_day(match[1])
    end = parse_time_of_day(match[2])
    if start == DAY_MINUTES:
        raise ScheduleError(f'window "{text}" starts at 24:00; start at 00:00 of the next day')
    if start == end:
        raise ScheduleError(f'window "{text}" starts and ends at the same time')
    # "23:00-00:00" ends at the coming midnight, the same as "23:00-24:00".
    return Window(day=day, start=start, end=end or DAY_MINUTES)


def parse_weekly_hours(hours: Mapping[str, Sequence[str]]) -> tuple[Window, ...]:
    """Parse the practice file's `hours` table; days left out are closed.

    Overlapping and adjacent windows are merged (across midnight and the week's end too).
    """
    windows: list[Window] = []
    for key, texts in hours.items():
        if key not in WEEKDAYS:
            raise ScheduleError(f'unknown day "{key}" (expected one of {", ".join(WEEKDAYS)})')
        # A bare string is a Sequence[str] too; iterating it would parse single characters.
        if isinstance(texts, str) or not isinstance(texts, Sequence):
            raise ScheduleError(f'{key}: expected a list of windows like ["09:00-17:00"]')
        for text in texts:
            if not isinstance(text, str):
                raise ScheduleError(f'{key}: window {text!r} is not a string like "09:00-17:00"')
            try:
                windows.append(parse_window(WEEKDAYS.index(key), text))
            except ScheduleError as exc:
                raise ScheduleError(f"{key}: {exc}") from exc
    return merge_windows(windows)


def merge_windows(windows: Iterable[Window]) -> tuple[Window, ...]:
    """Merge overlapping and adjacent windows, in (day, start) order.

    Merging is done on wall-clock minutes of the week. That is safe under DST because turning
    a wall time into an instant never moves a later wall time before an earlier one, so the
    union of the real intervals is the real interval of the union.
    """
    spans = sorted(
        (w.day * DAY_MINUTES + w.start, w.day * DAY_MINUTES + w.end_offset) for w in windows
    )
    merged: list[tuple[int, int]] = []
    for start, end in spans:
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    # A span running past Sunday midnight can reach the first spans of the week.
    while len(merged) > 1 and merged[-1][1] >= merged[0][0] + _WEEK_MINUTES:
        _, first_end = merged.pop(0)
        merged[-1] = (merged[-1][0], max(merged[-1][1], first_end + _WEEK_MINUTES))
    if merged and merged[-1][1] - merged[-1][0] >= _WEEK_MINUTES:
        return tuple(Window(day, 0, DAY_MINUTES) for day in range(7))
    pieces = [piece for start, end in merged for piece in _split_span(start, end)]
    return tuple(sorted(pieces, key=lambda w: (w.day, w.start)))


def _split_span(start: int, end: int) -> list[Window]:
    """Cut one merged span into windows of at most a day.

    A span that fits one window (also an overnight one) stays whole so that files read back
    as written; longer spans are cut at midnights.
    """
    day, offset = divmod(start, DAY_MINUTES)
    next_midnight = (day + 1) * DAY_MINUTES
    if end <= next_midnight:
        return [Window(day % 7, offset, end - day * DAY_MINUTES)]
    if end - next_midnight < offset:
        return [Window(day % 7, offset, end - next_midnight)]
    pieces = []
    cursor = start
    while cursor < end:
        day, offset = divmod(cursor, DAY_MINUTES)
        stop = min(end, (day + 1) * DAY_MINUTES)
        pieces.append(Window(day % 7, offset, stop - day * DAY_MINUTES))
        cursor = stop
    return pieces


def format_weekly_hours(windows: Iterable[Window]) -> dict[str, list[str]]:
    """The practice-file shape of `windows`: only days with windows, Monday first."""
    by_day: dict[str, list[str]] = {}
    for window in sorted(windows, key=lambda w: (w.day, w.start, w.end)):
        by_day.setdefault(WEEKDAYS[window.day], []).append(window.text)
    return by_day


@functools.cache
def _zone_keys() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones()) - _NOT_PLACES


def check_timezone(name: str) -> str:
    """Return `name` if it is an IANA zone key (such as "America/New_York")."""
    # Checked against the list of keys first: ZoneInfo() alone would also accept a file
    # path relative to the zone directory.
    if not isinstance(name, str) or name not in _zone_keys():
        raise ScheduleError(f'unknown time zone "{name}"')
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError) as exc:
        raise ScheduleError(f'unknown time zone "{name}"') from exc
    return name
