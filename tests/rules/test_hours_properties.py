"""The hours engine against a naive model written independently here.

The model follows the contract's words literally: for each local date near an instant, each
window of that weekday becomes a real interval (a skipped wall time found by walking
forward a minute at a time, a repeated one by trying both folds), and a closed local date
closes the instants that carry it. Random schedules are tried around the 2026 DST
transitions of zones with 60- and 30-minute shifts and with shifts at midnight.
"""

import bisect
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rules.hours import is_open, next_opening, open_until
from rules.schedule import DAY_MINUTES, DateRange, Schedule, Window, merge_windows

# Instants at which each zone changes its offset in 2026 (checked below), or a plain local
# midnight for zones without DST.
ANCHORS = {
    "America/New_York": (
        datetime(2026, 3, 8, 7, tzinfo=UTC),
        datetime(2026, 11, 1, 6, tzinfo=UTC),
    ),
    "Europe/London": (
        datetime(2026, 3, 29, 1, tzinfo=UTC),
        datetime(2026, 10, 25, 1, tzinfo=UTC),
    ),
    "Australia/Lord_Howe": (
        datetime(2026, 4, 4, 15, tzinfo=UTC),
        datetime(2026, 10, 3, 15, 30, tzinfo=UTC),
    ),
    # Santiago changes at midnight: 24:00 -> 23:00 in April, 00:00 -> 01:00 in September,
    # so a date can begin in a gap or end with a repeated hour.
    "America/Santiago": (
        datetime(2026, 4, 5, 3, tzinfo=UTC),
        datetime(2026, 9, 6, 4, tzinfo=UTC),
    ),
    "Asia/Kolkata": (datetime(2026, 6, 14, 18, 30, tzinfo=UTC),),
    "UTC": (datetime(2026, 6, 15, tzinfo=UTC),),
}
SCAN = timedelta(days=3)
MINUTE = timedelta(minutes=1)
PROPERTIES = settings(
    max_examples=150,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def test_anchors_are_the_real_transitions() -> None:
    for zone_name, anchors in ANCHORS.items():
        zone = ZoneInfo(zone_name)
        for anchor in anchors:
            if zone_name in ("Asia/Kolkata", "UTC"):
                assert anchor.astimezone(zone).time() == time()
            else:
                before = (anchor - MINUTE).astimezone(zone).utcoffset()
                assert before != anchor.astimezone(zone).utcoffset()


# --- the naive model -------------------------------------------------------------------


def naive_instant(zone: ZoneInfo, day: date, minute: int) -> datetime:
    wall = datetime.combine(day, time()) + timedelta(minutes=minute)
    real = [
        instant
        for fold in (0, 1)
        if (instant := wall.replace(tzinfo=zone, fold=fold).astimezone(UTC))
        .astimezone(zone)
        .replace(tzinfo=None)
        == wall
    ]
    if real:
        return min(real)
    # Skipped by a gap: fold=1 reads the wall time with the later offset, which puts it
    # before the gap; walk forward to the first instant whose wall time is not earlier.
    instant = wall.replace(tzinfo=zone, fold=1).astimezone(UTC)
    while instant.astimezone(zone).replace(tzinfo=None) < wall:
        instant += MINUTE
    return instant


def naive_closed(schedule: Schedule, day: date) -> bool:
    ranges = (*schedule.time_off, *schedule.closures)
    return any(r.start <= day <= r.end for r in ranges) or day in schedule.holidays


def naive_window_spans(
    schedule: Schedule, windows: tuple[Window, ...], first: date, last: date
) -> list[tuple[datetime, datetime]]:
    zone = ZoneInfo(schedule.timezone)
    spans = []
    day = first
    while day <= last:
        for window in windows:
            if window.day == day.weekday():
                end = window.end if window.end > window.start else window.end + DAY_MINUTES
                spans.append(
                    (naive_instant(zone, day, window.start), naive_instant(zone, day, end))
                )
        day += timedelta(days=1)
    return spans


def naive_state(
    schedule: Schedule, agreement: tuple[Window, ...], at: datetime
) -> tuple[bool, str | None]:
    day = at.astimezone(ZoneInfo(schedule.timezone)).date()
    if naive_closed(schedule, day):
        return False, None
    for source, windows in (("hours", schedule.hours), ("agreement", agreement)):
        spans = naive_window_spans(schedule, windows, day - timedelta(days=2), day)
        if any(start <= at < end for start, end in spans):
            return True, source
    return False, None


@dataclass(frozen=True)
class OpenSet:
    """The naive open instants over a stretch of days, as sorted disjoint intervals."""

    pieces: list[tuple[datetime, datetime]]

    @classmethod
    def around(cls, schedule: Schedule, agreement: tuple[Window, ...], at: datetime) -> "OpenSet":
        zone = ZoneInfo(schedule.timezone)
        first = at.astimezone(zone).date() - timedelta(days=2)
        last = (at + SCAN).astimezone(zone).date() + timedelta(days=2)
        spans = naive_window_spans(schedule, (*schedule.hours, *agreement), first, last)
        closed = []
        day = first
        while day <= last:
            if naive_closed(schedule, day):
                closed.append(
                    (naive_instant(zone, day, 0), naive_instant(zone, day + timedelta(days=1), 0))
                )
            day += timedelta(days=1)
        pieces = []
        for start, end in spans:
            remaining = [(start, end)]
            for closed_start, closed_end in closed:
                remaining = [
                    part
                    for s, e in remaining
                    for part in ((s, min(e, closed_start)), (max(s, closed_end), e))
                    if part[0] < part[1]
                ]
            pieces.extend(remaining)
        merged: list[tuple[datetime, datetime]] = []
        for start, end in sorted(pieces):
            if merged and start <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(merged[-1][1], end))
            else:
                merged.append((start, end))
        return cls(merged)

    def contains(self, moment: datetime) -> bool:
        index = bisect.bisect_right(self.pieces, (moment, datetime.max.replace(tzinfo=UTC))) - 1
        return index >= 0 and self.pieces[index][0] <= moment < self.pieces[index][1]

    def first_open_minute(self, start: datetime, stop: datetime) -> datetime | None:
        """Brute force: try start, start + 1 min, ... before stop. Every open piece is whole
        minutes long, so none fits between two tries. Timestamps keep the loop cheap."""
        starts = [piece[0].timestamp() for piece in self.pieces]
        ends = [piece[1].timestamp() for piece in self.pieces]
        moment, last = start.timestamp(), stop.timestamp()
        while moment < last:
            index = bisect.bisect_right(starts, moment) - 1
            if index >= 0 and moment < ends[index]:
                return datetime.fromtimestamp(moment, UTC)
            moment += 60
        return None

    def first_open(self, after: datetime) -> datetime | None:
        for start, end in self.pieces:
            if end > after:
                return max(start, after)
        return None

    def stretch_end(self, moment: datetime) -> datetime | None:
        for start, end in self.pieces:
            if start <= moment < end:
                return end
        return None


# --- random schedules ------------------------------------------------------------------

# A window is drawn as one integer, which hypothesis generates and shrinks far faster than a
# filtered tuple: the first codes give half-hour boundaries (where DST transitions and most
# real hours fall), the rest any minute.
HALF_HOUR_CODES = 7 * 48 * 48
MINUTE_CODES = 7 * DAY_MINUTES * DAY_MINUTES


def window_from(code: int) -> Window:
    if code < HALF_HOUR_CODES:
        day, rest = divmod(code, 48 * 48)
        start, length = (part * 30 for part in divmod(rest, 48))
        length += 30
    else:
        day, rest = divmod(code - HALF_HOUR_CODES, DAY_MINUTES * DAY_MINUTES)
        start, length = divmod(rest, DAY_MINUTES)
        length += 1
    if length >= DAY_MINUTES:
        return Window(day, 0, DAY_MINUTES)
    return Window(day, start, (start + length) % DAY_MINUTES or DAY_MINUTES)


windows = st.one_of(
    st.integers(0, HALF_HOUR_CODES - 1),
    st.integers(HALF_HOUR_CODES, HALF_HOUR_CODES + MINUTE_CODES - 1),
).map(window_from)
HOURS = st.lists(windows, max_size=6)
AGREEMENTS = st.lists(windows, max_size=2)
HOLIDAYS = st.lists(st.integers(-3, 4), max_size=2)


@dataclass(frozen=True)
class Scenario:
    schedule: Schedule
    agreement: tuple[Window, ...]
    at: datetime


# Strategies are built once, here: building them inside the composite for every example
# costs more than the checks themselves.
PLACES = st.sampled_from(
    [(zone, anchor) for zone, anchors in ANCHORS.items() for anchor in anchors]
)
# A date range is one code too: its first day (-3..4 days from the anchor) and its length.
DATE_RANGES = st.lists(st.integers(0, 31), max_size=2)
CLOSURES = st.lists(st.integers(0, 31), max_size=1)
OFFSETS = st.integers(-3 * 86400, 3 * 86400)


@st.composite
def scenarios(draw: st.DrawFn) -> Scenario:
    zone_name, anchor = draw(PLACES)
    anchor_day = anchor.astimezone(ZoneInfo(zone_name)).date()

    def ranges(codes: list[int]) -> tuple[DateRange, ...]:
        return tuple(
            DateRange(
                anchor_day + timedelta(days=code // 4 - 3),
                anchor_day + timedelta(days=code // 4 - 3 + code % 4),
            )
            for code in codes
        )

    # Half of the instants fall on a half hour, where window boundaries and transitions are.
    offset = draw(OFFSETS)
    if offset % 2:
        offset -= offset % 1800

    schedule = Schedule(
        zone_name,
        tuple(draw(HOURS)),
        time_off=ranges(draw(DATE_RANGES)),
        closures=ranges(draw(CLOSURES)),
        holidays={anchor_day + timedelta(days=days): "Holiday" for days in draw(HOLIDAYS)},
    )
    agreement = tuple(draw(AGREEMENTS))
    return Scenario(schedule, agreement, anchor + timedelta(seconds=offset))


# --- properties ------------------------------------------------------------------------


@PROPERTIES
@given(scenarios())
def test_is_open_agrees_with_the_naive_model(scenario: Scenario) -> None:
    state = is_open(scenario.schedule, scenario.at, scenario.agreement)
    assert (state.open, state.source) == naive_state(
        scenario.schedule, scenario.agreement, scenario.at
    )


@PROPERTIES
@given(scenarios())
def test_next_opening_is_open_and_nothing_opens_before_it(scenario: Scenario) -> None:
    schedule, agreement, after = scenario.schedule, scenario.agreement, scenario.at
    opening = next_opening(schedule, after, agreement)
    model = OpenSet.around(schedule, agreement, after)
    scan_end = after + SCAN
    if opening is not None:
        found = opening.at.astimezone(UTC)
        assert found >= after
        assert is_open(schedule, found, agreement).open
        if found < scan_end:
            assert model.contains(found)
            scan_end = found
    assert model.first_open_minute(after, scan_end) is None
    expected = model.first_open(after)
    if expected is not None and expected < after + SCAN:
        assert opening is not None
        assert opening.at.astimezone(UTC) == expected
    elif schedule.hours or agreement:
        assert opening is None or opening.at.astimezone(UTC) >= after + SCAN


@PROPERTIES
@given(scenarios())
def test_open_until_ends_the_naive_open_stretch(scenario: Scenario) -> None:
    schedule, agreement, at = scenario.schedule, scenario.agreement, scenario.at
    until = open_until(schedule, at, agreement)
    model = OpenSet.around(schedule, agreement, at)
    if not model.contains(at):
        assert until is None
        return
    end = model.stretch_end(at)
    assert end is not None
    if end < at + SCAN:
        assert until is not None
        assert until.astimezone(UTC) == end
        assert not is_open(schedule, until, agreement).open


@PROPERTIES
@given(scenarios())
def test_merging_windows_changes_no_answer(scenario: Scenario) -> None:
    schedule, agreement, at = scenario.schedule, scenario.agreement, scenario.at
    merged = Schedule(
        schedule.timezone,
        merge_windows(schedule.hours),
        schedule.time_off,
        schedule.closures,
        schedule.holidays,
    )
    merged_agreement = merge_windows(agreement)
    state = is_open(schedule, at, agreement)
    merged_state = is_open(merged, at, merged_agreement)
    assert (state.open, state.source) == (merged_state.open, merged_state.source)
    first = next_opening(schedule, at, agreement, horizon=timedelta(days=14))
    again = next_opening(merged, at, merged_agreement, horizon=timedelta(days=14))
    assert (first and first.at.astimezone(UTC)) == (again and again.at.astimezone(UTC))
