"""Is a therapist reachable at a given instant, and if not, when next?

Pure: the instant and the schedule arrive as arguments. Wall-clock windows become real
instants through zoneinfo (see `local_instant` for the DST rules) and every comparison is
between instants in UTC, so DST days are neither 24 hours long nor special-cased.

A closed date (time off, practice closure, public holiday) closes every instant whose own
local date it is. An overnight window therefore loses its after-midnight part only when
the next date is closed itself, and keeps it when only its start date is closed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Literal
from zoneinfo import ZoneInfo

from rules.schedule import DAY_MINUTES, DateRange, Schedule, Window

__all__ = [
    "ClosedBy",
    "OpenState",
    "Opening",
    "Source",
    "is_open",
    "local_instant",
    "next_opening",
    "open_until",
]

Source = Literal["hours", "agreement"]
ClosedBy = Literal["time_off", "closure", "holiday", "outside_hours"]

_ONE_DAY = timedelta(days=1)
_DEFAULT_HORIZON = timedelta(days=366)
# Window starts are looked for from the day before a moment (an overnight window) to this
# many days after it: a weekly pattern starts somewhere in any seven consecutive days, and
# one more day covers a start that a DST gap pushes past midnight.
_START_LOOKAHEAD_DAYS = 8


@dataclass(frozen=True, slots=True)
class OpenState:
    open: bool
    source: Source | None
    window: Window | None
    closed_by: ClosedBy | None
    reason: str  # for the audit log; never a phone number or a name


@dataclass(frozen=True, slots=True)
class Opening:
    """When a closed contact opens next.

    `at` is in the schedule's zone so that it reads naturally; compare it with other
    datetimes after `.astimezone(UTC)`, because Python compares datetimes of one zone by
    wall time (ignoring `fold`) and never finds a repeated-hour time equal to one in
    another zone.
    """

    at: datetime  # aware, in the schedule's zone
    source: Source
    window: Window
    reason: str


# Every message asks for the same few window edges (this week's, in a handful of zones), and
# each costs two zone look-ups; remembering them makes a decision several times cheaper.
@lru_cache(maxsize=4096)
def local_instant(zone: ZoneInfo, day: date, minute: int) -> datetime:
    """The real instant (in UTC) of the wall time `minute` minutes after midnight of `day`.

    `minute` may pass 1440 to name a time on a following day. A wall time skipped by a
    spring-forward gap moves to the first real instant after the gap; a wall time that
    occurs twice in a fall-back hour takes its first occurrence.
    """
    days, minute = divmod(minute, DAY_MINUTES)
    if days:
        day += timedelta(days=days)
    hour, minute = divmod(minute, 60)
    wall = datetime(day.year, day.month, day.day, hour, minute, tzinfo=zone)
    # fold=0 takes the offset in force before a transition and fold=1 the one after. Only
    # in a spring-forward gap is the later offset the larger (clocks jump ahead); in a
    # fall-back hour fold=0 already names the first occurrence.
    before = wall.utcoffset()
    after = wall.replace(fold=1).utcoffset()
    if before is None or after is None or after <= before:
        return wall.astimezone(UTC)
    # In a gap, fold=0 lands after the transition and fold=1 before it. Transitions fall on
    # whole seconds, so halving the distance in whole seconds finds it exactly, in under
    # twenty steps even for a whole skipped day.
    before_gap = wall.replace(fold=1).astimezone(UTC)
    low, high = 0, int((wall.astimezone(UTC) - before_gap).total_seconds())
    while high - low > 1:
        middle = (low + high) // 2
        if (before_gap + timedelta(seconds=middle)).astimezone(zone).utcoffset() == after:
            high = middle
        else:
            low = middle
    return before_gap + timedelta(seconds=high)


def _require_aware(moment: datetime, name: str) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must be an aware datetime (with a time zone), got {moment!r}")
    return moment.astimezone(UTC)


def _span(zone: ZoneInfo, day: date, window: Window) -> tuple[datetime, datetime]:
    """The real [start, end) of `window` when it starts on `day`."""
    return (
        local_instant(zone, day, window.start),
        local_instant(zone, day, window.end_offset),
    )


def _first_instant(zone: ZoneInfo, day: date, later_than: datetime) -> datetime:
    """The first instant after `later_than` at which the local date becomes `day`."""
    midnight = local_instant(zone, day, 0)
    if midnight > later_than:
        return midnight
    # Only where a fall-back hour straddles midnight does a date begin twice; the second
    # beginning is the one still ahead.
    again = datetime.combine(day, time(), tzinfo=zone).replace(fold=1).astimezone(UTC)
    if again > later_than:
        return again
    # Unreachable with real zone data; keeps every caller's loop moving forward regardless.
    return later_than + timedelta(seconds=1)


def _closed_date(schedule: Schedule, day: date) -> tuple[ClosedBy, str] | None:
    kinds: tuple[tuple[ClosedBy, tuple[DateRange, ...], str], ...] = (
        ("time_off", schedule.time_off, "time off"),
        ("closure", schedule.closures, "practice closure"),
    )
    for kind, ranges, prefix in kinds:
        for dates in ranges:
            if dates.start <= day <= dates.end:
                return kind, _range_reason(prefix, dates)
    name = schedule.holidays.get(day)
    if name:
        return "holiday", f"public holiday: {name}"
    return None


def _range_reason(prefix: str, dates: DateRange) -> str:
    when = dates.start.isoformat() if dates.start == dates.end else dates.label
    return f"{prefix} {when} ({dates.note})" if dates.note else f"{prefix} {when}"


def _next_open_date(schedule: Schedule, day: date, last: date) -> date | None:
    """The first date after `day` that is not closed, or None if there is none up to `last`.

    Whole date ranges are jumped at once; only holidays, which come one date at a time from
    a lazily filled calendar, are stepped over date by date.
    """
    ranges = schedule.time_off + schedule.closures
    candidate = day
    while candidate < last:
        candidate += _ONE_DAY
        covering_end = max((r.end for r in ranges if r.start <= candidate <= r.end), default=None)
        if covering_end is not None:
            if covering_end >= last:
                return None
            candidate = covering_end
        elif not schedule.holidays.get(candidate):
            return candidate
    return None


def _covering(
    zone: ZoneInfo, windows: Sequence[Window], moment: datetime, day: date
) -> tuple[Window, datetime] | None:
    """The window that contains `moment` (local date `day`) and its real end; if several do,
    the one that lasts longest, so that `open_until` can follow the stretch in few steps."""
    best: tuple[Window, datetime] | None = None
    for start_day in (day - _ONE_DAY, day):
        weekday = start_day.weekday()
        for window in windows:
            if window.day != weekday:
                continue
            start, end = _span(zone, start_day, window)
            if start <= moment < end and (best is None or end > best[1]):
                best = (window, end)
    return best


def _state(
    schedule: Schedule, zone: ZoneInfo, moment: datetime, agreement: Sequence[Window]
) -> OpenState:
    day = moment.astimezone(zone).date()
    closed = _closed_date(schedule, day)
    if closed is not None:
        return OpenState(
            open=False, source=None, window=None, closed_by=closed[0], reason=closed[1]
        )
    sources: tuple[tuple[Source, Sequence[Window], str], ...] = (
        ("hours", schedule.hours, "within hours"),
        ("agreement", agreement, "within agreement"),
    )
    for source, windows, phrase in sources:
        found = _covering(zone, windows, moment, day)
        if found is not None:
            window = found[0]
            return OpenState(
                open=True,
                source=source,
                window=window,
                closed_by=None,
                reason=f"{phrase} ({window.label}, {schedule.timezone})",
            )
    return OpenState(
        open=False, source=None, window=None, closed_by="outside_hours", reason="outside hours"
    )


def is_open(schedule: Schedule, at: datetime, agreement: Sequence[Window] = ()) -> OpenState:
    """Whether `at` falls in the therapist's hours or the client's agreement windows.

    The therapist's own hours win when both apply. Closed dates close agreement windows too.
    """
    return _state(schedule, schedule.zone, _require_aware(at, "at"), agreement)


def _next_start(
    zone: ZoneInfo, windows: Sequence[Window], moment: datetime, day: date
) -> datetime | None:
    """The earliest real window start after `moment` within the next week or so."""
    best: datetime | None = None
    for offset in range(-1, _START_LOOKAHEAD_DAYS + 1):
        start_day = day + timedelta(days=offset)
        weekday = start_day.weekday()
        for window in windows:
            if window.day != weekday:
                continue
            start = local_instant(zone, start_day, window.start)
            # A window wholly inside a DST gap is empty: it never opens. Its end is only
            # worked out for a start that would win.
            if (
                moment < start
                and (best is None or start < best)
                and local_instant(zone, start_day, window.end_offset) > start
            ):
                best = start
    return best


def _horizon_end(moment: datetime, horizon: timedelta) -> datetime:
    try:
        return moment + horizon
    except OverflowError:
        return datetime.max.replace(tzinfo=UTC)


def next_opening(
    schedule: Schedule,
    after: datetime,
    agreement: Sequence[Window] = (),
    horizon: timedelta = _DEFAULT_HORIZON,
) -> Opening | None:
    """The first instant at or after `after` at which `is_open` holds, within `horizon`.

    Works from event to event (window starts, first instants of dates) and jumps over closed
    date ranges whole, so its cost follows the number of windows and closed ranges in the
    way, not the length of the wait.
    """
    zone = schedule.zone
    moment = _require_aware(after, "after")
    if not schedule.hours and not agreement:
        return None
    windows = (*schedule.hours, *agreement)
    limit = _horizon_end(moment, horizon)
    last_day = limit.astimezone(zone).date()
    while moment <= limit:
        state = _state(schedule, zone, moment, agreement)
        # An open state always names its source and window; testing both spares an assert.
        if state.source is not None and state.window is not None:
            return Opening(
                at=moment.astimezone(zone),
                source=state.source,
                window=state.window,
                reason=state.reason,
            )
        day = moment.astimezone(zone).date()
        if state.closed_by != "outside_hours":
            open_day = _next_open_date(schedule, day, last_day)
            if open_day is None:
                return None
            # A window that began on the closed date may still be running at this instant.
            moment = _first_instant(zone, open_day, moment)
            continue
        start = _next_start(zone, windows, moment, day)
        if start is None:
            moment = _first_instant(zone, day + timedelta(days=_START_LOOKAHEAD_DAYS), moment)
            continue
        moment = _closed_date_before(schedule, zone, moment, day, start) or start
    return None


def _closed_date_before(
    schedule: Schedule, zone: ZoneInfo, moment: datetime, day: date, until: datetime
) -> datetime | None:
    """The first instant of the first closed date after `day` that begins before `until`."""
    candidate = day + _ONE_DAY
    last = until.astimezone(zone).date()
    while candidate <= last:
        if _closed_date(schedule, candidate) is not None:
            begins = _first_instant(zone, candidate, moment)
            return begins if begins < until else None
        candidate += _ONE_DAY
    return None


def open_until(
    schedule: Schedule,
    at: datetime,
    agreement: Sequence[Window] = (),
    horizon: timedelta = _DEFAULT_HORIZON,
) -> datetime | None:
    """When the open stretch that contains `at` ends, in the schedule's zone.

    Touching windows (also one of the hours followed by an agreement window) make one
    stretch; a closed date cuts it. None when `at` is closed, and also when the stretch
    outlasts `horizon` (a schedule open around the clock).
    """
    zone = schedule.zone
    moment = _require_aware(at, "at")
    if not _state(schedule, zone, moment, agreement).open:
        return None
    windows = (*schedule.hours, *agreement)
    limit = _horizon_end(moment, horizon)
    while moment <= limit:
        day = moment.astimezone(zone).date()
        found = _covering(zone, windows, moment, day)
        if found is None:
            return moment.astimezone(zone)
        end = found[1]
        cut = _closed_date_before(schedule, zone, moment, day, end)
        if cut is not None:
            return cut.astimezone(zone)
        if _closed_date(schedule, end.astimezone(zone).date()) is not None:
            return end.astimezone(zone)
        moment = end
    return None
