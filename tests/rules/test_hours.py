from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import holidays
import pytest

from rules.hours import is_open, local_instant, next_opening, open_until
from rules.schedule import DateRange, Schedule, Window, parse_weekly_hours, parse_window

NY = "America/New_York"
LONDON = "Europe/London"
MON, TUE, WED, THU, FRI, SAT, SUN = range(7)


def local(zone: str, text: str, *, fold: int = 0) -> datetime:
    """An aware local time from "YYYY-MM-DD HH:MM"; fold=1 picks a repeated hour's second pass."""
    return datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(zone), fold=fold)


def utc(moment: datetime | None) -> datetime | None:
    """Python compares datetimes of one zone by wall time and says that an ambiguous local
    time equals nothing in another zone, so instants are compared in UTC."""
    return None if moment is None else moment.astimezone(UTC)


def schedule(
    hours: Mapping[str, list[str]],
    *,
    zone: str = NY,
    time_off: tuple[DateRange, ...] = (),
    closures: tuple[DateRange, ...] = (),
    public: Mapping[date, str] | None = None,
) -> Schedule:
    return Schedule(
        zone,
        parse_weekly_hours(hours),
        time_off=time_off,
        closures=closures,
        holidays=public if public is not None else {},
    )


LEE = schedule(
    {"mon": ["09:00-12:00", "13:00-17:00"], "tue": ["09:00-17:00"], "fri": ["21:00-02:00"]},
    time_off=(DateRange(date(2026, 12, 24), date(2026, 12, 26), "Holidays"),),
    closures=(DateRange(date(2026, 12, 31), date(2027, 1, 1), "Office closed"),),
)
WEEKDAYS_9_TO_5 = {day: ["09:00-17:00"] for day in ("mon", "tue", "wed", "thu", "fri")}
COACHING = (parse_window(MON, "08:00-21:00"),)

OPEN_HOURS = "hours"
OPEN_AGREEMENT = "agreement"


def expect(open_or_closed_by: str, reason: str) -> tuple[str, str]:
    return open_or_closed_by, reason


@pytest.mark.parametrize(
    ("sched", "at", "agreement", "expected"),
    [
        # 2026-11-23 is a Monday.
        pytest.param(
            LEE,
            local(NY, "2026-11-23 11:59"),
            (),
            expect(OPEN_HOURS, "within hours (mon 09:00-12:00, America/New_York)"),
            id="split shift, morning",
        ),
        pytest.param(
            LEE,
            local(NY, "2026-11-23 12:00"),
            (),
            expect("outside_hours", "outside hours"),
            id="lunch break",
        ),
        pytest.param(
            LEE,
            local(NY, "2026-11-23 13:00"),
            (),
            expect(OPEN_HOURS, "within hours (mon 13:00-17:00, America/New_York)"),
            id="split shift, afternoon",
        ),
        pytest.param(
            LEE,
            local(NY, "2026-11-24 09:00"),
            (),
            expect(OPEN_HOURS, "within hours (tue 09:00-17:00, America/New_York)"),
            id="open at the start",
        ),
        pytest.param(
            LEE,
            local(NY, "2026-11-24 16:59"),
            (),
            expect(OPEN_HOURS, "within hours (tue 09:00-17:00, America/New_York)"),
            id="open the minute before the end",
        ),
        pytest.param(
            LEE,
            local(NY, "2026-11-24 17:00"),
            (),
            expect("outside_hours", "outside hours"),
            id="closed at the end",
        ),
        pytest.param(
            LEE,
            local(NY, "2026-11-24 08:59"),
            (),
            expect("outside_hours", "outside hours"),
            id="closed before",
        ),
        pytest.param(
            LEE,
            local(NY, "2026-11-28 01:59"),
            (),
            expect(OPEN_HOURS, "within hours (fri 21:00-02:00, America/New_York)"),
            id="overnight window after midnight",
        ),
        pytest.param(
            LEE,
            local(NY, "2026-11-28 02:00"),
            (),
            expect("outside_hours", "outside hours"),
            id="overnight window end",
        ),
        pytest.param(
            LEE,
            local(NY, "2026-11-23 18:00"),
            COACHING,
            expect(OPEN_AGREEMENT, "within agreement (mon 08:00-21:00, America/New_York)"),
            id="agreement while the therapist is closed",
        ),
        pytest.param(
            LEE,
            local(NY, "2026-11-23 12:30"),
            COACHING,
            expect(OPEN_AGREEMENT, "within agreement (mon 08:00-21:00, America/New_York)"),
            id="agreement over the lunch break",
        ),
        pytest.param(
            LEE,
            local(NY, "2026-11-23 10:00"),
            COACHING,
            expect(OPEN_HOURS, "within hours (mon 09:00-12:00, America/New_York)"),
            id="own hours are preferred to the agreement",
        ),
        pytest.param(
            LEE,
            local(NY, "2026-11-23 21:00"),
            COACHING,
            expect("outside_hours", "outside hours"),
            id="agreement is half-open too",
        ),
        pytest.param(
            LEE,
            local(NY, "2026-12-25 10:00"),
            (),
            expect("time_off", "time off 2026-12-24..2026-12-26 (Holidays)"),
            id="time off",
        ),
        pytest.param(
            LEE,
            local(NY, "2026-12-25 10:00"),
            (Window(FRI, 0, 1440),),
            expect("time_off", "time off 2026-12-24..2026-12-26 (Holidays)"),
            id="agreement does not override time off",
        ),
        pytest.param(
            LEE,
            local(NY, "2026-12-31 10:00"),
            (Window(THU, 0, 1440),),
            expect("closure", "practice closure 2026-12-31..2027-01-01 (Office closed)"),
            id="agreement does not override a practice closure",
        ),
        pytest.param(
            schedule(
                WEEKDAYS_9_TO_5, time_off=(DateRange(date(2026, 11, 23), date(2026, 11, 23)),)
            ),
            local(NY, "2026-11-23 00:00"),
            (),
            expect("time_off", "time off 2026-11-23"),
            id="a single day of time off, at its first instant",
        ),
        pytest.param(
            schedule(WEEKDAYS_9_TO_5, public={date(2026, 11, 26): "Thanksgiving"}),
            local(NY, "2026-11-26 10:00"),
            (Window(THU, 0, 1440),),
            expect("holiday", "public holiday: Thanksgiving"),
            id="public holiday, agreement included",
        ),
        pytest.param(
            schedule(WEEKDAYS_9_TO_5, public={date(2026, 11, 26): "Thanksgiving"}),
            local(NY, "2026-11-27 09:00"),
            (),
            expect(OPEN_HOURS, "within hours (fri 09:00-17:00, America/New_York)"),
            id="the day after a holiday",
        ),
        pytest.param(
            schedule({"sun": ["22:00-02:00"]}),
            local(NY, "2026-11-23 01:30"),
            (),
            expect(OPEN_HOURS, "within hours (sun 22:00-02:00, America/New_York)"),
            id="sunday night window runs into monday",
        ),
        pytest.param(
            schedule({"sun": ["22:00-02:00"]}),
            local(NY, "2026-11-22 21:59"),
            (),
            expect("outside_hours", "outside hours"),
            id="sunday night window not yet open",
        ),
        pytest.param(
            schedule({"wed": ["00:00-24:00"]}),
            local(NY, "2026-11-25 00:00"),
            (),
            expect(OPEN_HOURS, "within hours (wed 00:00-24:00, America/New_York)"),
            id="a whole day opens at midnight",
        ),
        pytest.param(
            schedule({"wed": ["00:00-24:00"]}),
            local(NY, "2026-11-25 23:59"),
            (),
            expect(OPEN_HOURS, "within hours (wed 00:00-24:00, America/New_York)"),
            id="a whole day is open at its last minute",
        ),
        pytest.param(
            schedule({"wed": ["00:00-24:00"]}),
            local(NY, "2026-11-26 00:00"),
            (),
            expect("outside_hours", "outside hours"),
            id="a whole day closes at the next midnight",
        ),
    ],
)
def test_is_open_answers_with_its_reason(
    sched: Schedule, at: datetime, agreement: tuple[Window, ...], expected: tuple[str, str]
) -> None:
    state = is_open(sched, at, agreement)
    kind, reason = expected
    assert state.reason == reason
    if kind in (OPEN_HOURS, OPEN_AGREEMENT):
        assert state.open
        assert state.source == kind
        assert state.window is not None
        assert state.closed_by is None
    else:
        assert not state.open
        assert state.source is None
        assert state.window is None
        assert state.closed_by == kind


def test_is_open_compares_instants_whatever_zone_the_time_is_given_in() -> None:
    assert is_open(LEE, datetime(2026, 11, 24, 14, tzinfo=UTC)).open  # 09:00 EST
    assert not is_open(LEE, datetime(2026, 11, 24, 13, 59, tzinfo=UTC)).open


# Friday 2026-11-27 21:00-02:00 with either Friday or Saturday off: closed dates close the
# instants of their own local date, not the windows that start on them.
FRIDAY_OFF = schedule(
    {"fri": ["21:00-02:00"]}, time_off=(DateRange(date(2026, 11, 27), date(2026, 11, 27)),)
)
SATURDAY_OFF = schedule(
    {"fri": ["21:00-02:00"]}, time_off=(DateRange(date(2026, 11, 28), date(2026, 11, 28)),)
)


@pytest.mark.parametrize(
    ("sched", "at", "is_expected_open"),
    [
        pytest.param(
            FRIDAY_OFF, local(NY, "2026-11-27 22:00"), False, id="friday off: friday part closed"
        ),
        pytest.param(
            FRIDAY_OFF, local(NY, "2026-11-28 00:00"), True, id="friday off: saturday part open"
        ),
        pytest.param(
            SATURDAY_OFF, local(NY, "2026-11-27 23:59"), True, id="saturday off: friday part open"
        ),
        pytest.param(
            SATURDAY_OFF,
            local(NY, "2026-11-28 00:00"),
            False,
            id="saturday off: saturday part closed",
        ),
    ],
)
def test_overnight_windows_close_by_the_date_of_each_instant(
    sched: Schedule, at: datetime, is_expected_open: bool
) -> None:
    assert is_open(sched, at).open is is_expected_open


def test_next_opening_after_a_closed_start_day_is_the_next_midnight() -> None:
    opening = next_opening(FRIDAY_OFF, local(NY, "2026-11-27 20:00"))
    assert opening is not None
    assert utc(opening.at) == utc(local(NY, "2026-11-28 00:00"))
    assert opening.window.label == "fri 21:00-02:00"


def test_open_until_stops_at_the_first_instant_of_a_closed_date() -> None:
    assert utc(open_until(SATURDAY_OFF, local(NY, "2026-11-27 22:00"))) == utc(
        local(NY, "2026-11-28 00:00")
    )


def test_time_off_over_a_weekend_moves_the_next_opening_past_it() -> None:
    # Friday 2026-12-04 to Monday 2026-12-07, with Lee's Friday night window in between.
    sched = Schedule(
        LEE.timezone, LEE.hours, time_off=(DateRange(date(2026, 12, 4), date(2026, 12, 7)),)
    )
    assert is_open(sched, local(NY, "2026-12-05 01:00")).closed_by == "time_off"
    opening = next_opening(sched, local(NY, "2026-12-04 10:00"))
    assert opening is not None
    assert utc(opening.at) == utc(local(NY, "2026-12-08 09:00"))
    assert opening.reason == "within hours (tue 09:00-17:00, America/New_York)"


def test_us_thanksgiving_from_the_holidays_package_closes_the_day() -> None:
    sched = schedule(WEEKDAYS_9_TO_5, public=holidays.country_holidays("US", subdiv="NY"))
    state = is_open(sched, local(NY, "2026-11-26 10:00"))
    assert state.closed_by == "holiday"
    assert state.reason == "public holiday: Thanksgiving Day"
    opening = next_opening(sched, local(NY, "2026-11-25 17:00"))
    assert opening is not None
    assert utc(opening.at) == utc(local(NY, "2026-11-27 09:00"))


def test_gb_christmas_and_observed_boxing_day_from_the_holidays_package() -> None:
    sched = schedule(WEEKDAYS_9_TO_5, zone=LONDON, public=holidays.country_holidays("GB"))
    assert (
        is_open(sched, local(LONDON, "2026-12-28 10:00")).reason
        == "public holiday: Boxing Day (observed)"
    )
    # Christmas Friday, Boxing Day Saturday, observed on Monday: back on Tuesday.
    opening = next_opening(sched, local(LONDON, "2026-12-24 17:00"))
    assert opening is not None
    assert utc(opening.at) == utc(local(LONDON, "2026-12-29 09:00"))


@pytest.mark.parametrize(
    ("sched", "after", "agreement", "expected_at", "source"),
    [
        pytest.param(
            LEE,
            local(NY, "2026-11-23 10:00"),
            (),
            local(NY, "2026-11-23 10:00"),
            "hours",
            id="already open",
        ),
        pytest.param(
            LEE,
            local(NY, "2026-11-23 12:00"),
            (),
            local(NY, "2026-11-23 13:00"),
            "hours",
            id="after lunch",
        ),
        pytest.param(
            LEE,
            local(NY, "2026-11-24 17:00"),
            (),
            local(NY, "2026-11-27 21:00"),
            "hours",
            id="to friday night",
        ),
        pytest.param(
            LEE,
            local(NY, "2026-11-28 02:00"),
            (),
            local(NY, "2026-11-30 09:00"),
            "hours",
            id="over the weekend",
        ),
        pytest.param(
            LEE,
            local(NY, "2026-11-23 07:00"),
            COACHING,
            local(NY, "2026-11-23 08:00"),
            "agreement",
            id="agreement first",
        ),
        pytest.param(
            LEE,
            local(NY, "2026-11-23 12:00"),
            COACHING,
            local(NY, "2026-11-23 12:00"),
            "agreement",
            id="agreement covers the lunch break",
        ),
        pytest.param(
            LEE,
            local(NY, "2026-12-23 17:00"),
            (),
            local(NY, "2026-12-28 09:00"),
            "hours",
            id="over time off",
        ),
        pytest.param(
            LEE,
            local(NY, "2026-12-23 17:00"),
            (Window(THU, 0, 1440), Window(FRI, 0, 1440)),
            local(NY, "2026-12-28 09:00"),
            "hours",
            id="agreement never opens time off",
        ),
        pytest.param(
            Schedule(NY, LEE.hours, time_off=(DateRange(date(2026, 12, 24), date(2026, 12, 25)),)),
            local(NY, "2026-12-23 17:00"),
            (Window(THU, 0, 1440), Window(FRI, 0, 1440)),
            local(NY, "2026-12-26 00:00"),
            "hours",
            id="a window begun on time off opens at the next midnight",
        ),
        pytest.param(
            LEE,
            local(NY, "2026-12-30 12:00"),
            (),
            local(NY, "2027-01-02 00:00"),
            "hours",
            id="over a practice closure",
        ),
    ],
)
def test_next_opening_finds_the_first_open_instant(
    sched: Schedule,
    after: datetime,
    agreement: tuple[Window, ...],
    expected_at: datetime,
    source: str,
) -> None:
    opening = next_opening(sched, after, agreement)
    assert opening is not None
    assert utc(opening.at) == utc(expected_at)
    assert opening.at.tzinfo == ZoneInfo(sched.timezone)
    assert opening.source == source
    assert is_open(sched, opening.at, agreement).open


def test_next_opening_is_none_without_any_window() -> None:
    assert next_opening(schedule({}), local(NY, "2026-11-23 10:00")) is None


def test_next_opening_is_none_when_time_off_outlasts_the_horizon() -> None:
    sched = Schedule(NY, LEE.hours, time_off=(DateRange(date(2026, 1, 1), date(2027, 12, 31)),))
    assert next_opening(sched, local(NY, "2026-06-01 10:00")) is None
    assert next_opening(sched, local(NY, "2026-06-01 10:00"), horizon=timedelta(days=30)) is None
    long_wait = next_opening(sched, local(NY, "2026-06-01 10:00"), horizon=timedelta(days=600))
    assert long_wait is not None
    # Friday 2027-12-31 is still time off; its night window opens with Saturday's date.
    assert utc(long_wait.at) == utc(local(NY, "2028-01-01 00:00"))


def test_next_opening_respects_a_short_horizon() -> None:
    after = local(NY, "2026-11-24 17:00")  # Tuesday; Lee next opens on Friday night
    assert next_opening(LEE, after, horizon=timedelta(days=3)) is None
    assert next_opening(LEE, after, horizon=timedelta(days=3, hours=4)) is not None


class CountingHolidays(dict[date, str]):
    """A calendar that counts lookups, to show which dates the engine looked at."""

    def __init__(self, entries: Mapping[date, str]) -> None:
        super().__init__(entries)
        self.lookups = 0

    def get(self, key: date, default: str | None = None) -> str | None:  # type: ignore[override]
        self.lookups += 1
        return super().get(key, default)


def test_next_opening_jumps_over_a_year_of_time_off_instead_of_stepping_through_it() -> None:
    calendar = CountingHolidays({date(2027, 11, 29): "Test holiday"})
    sched = Schedule(
        NY,
        LEE.hours,
        time_off=(DateRange(date(2026, 11, 1), date(2027, 11, 28), "Sabbatical"),),
        holidays=calendar,
    )
    opening = next_opening(sched, local(NY, "2026-11-01 00:00"), horizon=timedelta(days=800))
    assert opening is not None
    assert utc(opening.at) == utc(local(NY, "2027-11-30 09:00"))  # Monday the 29th is the holiday
    assert calendar.lookups < 20


@pytest.mark.parametrize("call", [is_open, next_opening, open_until])
def test_naive_datetimes_are_refused(call: object) -> None:
    with pytest.raises(ValueError, match="must be an aware datetime"):
        call(LEE, datetime(2026, 11, 23, 10))  # type: ignore[operator]


# DST: America/New_York springs forward 2026-03-08 02:00 -> 03:00 and falls back
# 2026-11-01 02:00 -> 01:00; Europe/London 2026-03-29 01:00 -> 02:00 and 2026-10-25 02:00 -> 01:00.
@pytest.mark.parametrize(
    ("zone", "day", "minute", "expected_utc"),
    [
        pytest.param(
            NY,
            date(2026, 3, 8),
            150,
            datetime(2026, 3, 8, 7, tzinfo=UTC),
            id="NY gap moves to 03:00",
        ),
        pytest.param(
            NY, date(2026, 3, 8), 120, datetime(2026, 3, 8, 7, tzinfo=UTC), id="NY gap start"
        ),
        pytest.param(
            NY, date(2026, 3, 8), 180, datetime(2026, 3, 8, 7, tzinfo=UTC), id="NY after the gap"
        ),
        pytest.param(
            NY,
            date(2026, 3, 8),
            119,
            datetime(2026, 3, 8, 6, 59, tzinfo=UTC),
            id="NY before the gap",
        ),
        pytest.param(
            NY, date(2026, 11, 1), 90, datetime(2026, 11, 1, 5, 30, tzinfo=UTC), id="NY fold, first"
        ),
        pytest.param(
            NY, date(2026, 11, 1), 120, datetime(2026, 11, 1, 7, tzinfo=UTC), id="NY after the fold"
        ),
        pytest.param(
            LONDON, date(2026, 3, 29), 90, datetime(2026, 3, 29, 1, tzinfo=UTC), id="London gap"
        ),
        pytest.param(
            LONDON, date(2026, 10, 25), 60, datetime(2026, 10, 25, 0, tzinfo=UTC), id="London fold"
        ),
        pytest.param(
            NY,
            date(2026, 3, 7),
            1440 + 150,
            datetime(2026, 3, 8, 7, tzinfo=UTC),
            id="gap, next day",
        ),
        pytest.param(
            "Australia/Lord_Howe",
            date(2026, 10, 4),
            135,
            datetime(2026, 10, 3, 15, 30, tzinfo=UTC),
            id="30-min gap",
        ),
    ],
)
def test_local_instant_applies_the_gap_and_fold_rules(
    zone: str, day: date, minute: int, expected_utc: datetime
) -> None:
    assert local_instant(ZoneInfo(zone), day, minute) == expected_utc


@pytest.mark.parametrize(
    ("hours", "zone", "moment", "is_expected_open"),
    [
        # Spring forward, New York: a window starting at 02:30 opens at 03:00 EDT.
        pytest.param(
            {"sun": ["02:30-04:00"]},
            NY,
            datetime(2026, 3, 8, 6, 59, tzinfo=UTC),
            False,
            id="NY spring, before",
        ),
        pytest.param(
            {"sun": ["02:30-04:00"]},
            NY,
            local(NY, "2026-03-08 03:00"),
            True,
            id="NY spring, opens at 03:00",
        ),
        pytest.param(
            {"sun": ["02:00-02:30"]},
            NY,
            local(NY, "2026-03-08 03:00"),
            False,
            id="NY spring, window in the gap",
        ),
        pytest.param(
            {"sat": ["22:00-02:30"]},
            NY,
            local(NY, "2026-03-08 01:59"),
            True,
            id="NY spring, overnight",
        ),
        pytest.param(
            {"sat": ["22:00-02:30"]},
            NY,
            local(NY, "2026-03-08 03:00"),
            False,
            id="NY spring, ends at 03:00",
        ),
        # Fall back, New York: 01:00-02:00 happens twice.
        pytest.param(
            {"sun": ["01:00-01:30"]},
            NY,
            local(NY, "2026-11-01 01:15"),
            True,
            id="NY fold, first pass",
        ),
        pytest.param(
            {"sun": ["01:00-01:30"]},
            NY,
            local(NY, "2026-11-01 01:15", fold=1),
            False,
            id="NY fold, second pass",
        ),
        pytest.param(
            {"sun": ["01:30-02:00"]},
            NY,
            local(NY, "2026-11-01 01:45", fold=1),
            True,
            id="NY fold, real interval",
        ),
        pytest.param(
            {"sun": ["01:30-02:00"]}, NY, local(NY, "2026-11-01 02:00"), False, id="NY fold, end"
        ),
        # Spring forward, London: 01:00 -> 02:00.
        pytest.param(
            {"sun": ["01:30-03:00"]},
            LONDON,
            datetime(2026, 3, 29, 0, 59, tzinfo=UTC),
            False,
            id="London spring, before",
        ),
        pytest.param(
            {"sun": ["01:30-03:00"]},
            LONDON,
            local(LONDON, "2026-03-29 02:00"),
            True,
            id="London spring, opens at 02:00",
        ),
        # Fall back, London: 01:00-02:00 happens twice.
        pytest.param(
            {"sun": ["01:00-01:30"]},
            LONDON,
            local(LONDON, "2026-10-25 01:15"),
            True,
            id="London fold, first",
        ),
        pytest.param(
            {"sun": ["01:00-01:30"]},
            LONDON,
            local(LONDON, "2026-10-25 01:15", fold=1),
            False,
            id="London fold, second",
        ),
        pytest.param(
            {"sun": ["01:30-02:00"]},
            LONDON,
            local(LONDON, "2026-10-25 01:00", fold=1),
            True,
            id="London fold, between",
        ),
    ],
)
def test_dst_transitions_follow_the_precise_rules(
    hours: dict[str, list[str]], zone: str, moment: datetime, is_expected_open: bool
) -> None:
    assert is_open(schedule(hours, zone=zone), moment).open is is_expected_open


def test_next_opening_in_a_spring_forward_gap_is_the_first_real_instant_after_it() -> None:
    opening = next_opening(schedule({"sun": ["02:30-04:00"]}), local(NY, "2026-03-08 00:00"))
    assert opening is not None
    assert utc(opening.at) == utc(local(NY, "2026-03-08 03:00"))
    assert opening.at.utcoffset() == timedelta(hours=-4)


def test_a_window_wholly_inside_the_gap_opens_the_next_week() -> None:
    opening = next_opening(schedule({"sun": ["02:00-02:30"]}), local(NY, "2026-03-08 00:00"))
    assert opening is not None
    assert utc(opening.at) == utc(local(NY, "2026-03-15 02:00"))


def test_next_opening_in_the_fall_back_hour_is_the_first_occurrence() -> None:
    opening = next_opening(schedule({"sun": ["01:30-03:00"]}), local(NY, "2026-11-01 00:00"))
    assert opening is not None
    assert utc(opening.at) == datetime(2026, 11, 1, 5, 30, tzinfo=UTC)
    assert opening.at.fold == 0


def test_a_whole_day_on_fall_back_lasts_twenty_five_hours() -> None:
    sched = schedule({"sun": ["00:00-24:00"]})
    start = local(NY, "2026-11-01 00:00")
    until = utc(open_until(sched, start))
    assert until == utc(local(NY, "2026-11-02 00:00"))
    assert until is not None
    assert until - start.astimezone(UTC) == timedelta(hours=25)


@pytest.mark.parametrize(
    ("sched", "at", "agreement", "expected"),
    [
        pytest.param(
            LEE, local(NY, "2026-11-23 10:00"), (), local(NY, "2026-11-23 12:00"), id="until lunch"
        ),
        pytest.param(
            LEE, local(NY, "2026-11-27 22:00"), (), local(NY, "2026-11-28 02:00"), id="overnight"
        ),
        pytest.param(LEE, local(NY, "2026-11-23 12:30"), (), None, id="closed"),
        pytest.param(
            LEE,
            local(NY, "2026-11-23 10:00"),
            COACHING,
            local(NY, "2026-11-23 21:00"),
            id="hours run into agreement",
        ),
        pytest.param(
            schedule({"mon": ["21:00-24:00"], "tue": ["00:00-24:00"], "wed": ["00:00-02:00"]}),
            local(NY, "2026-11-23 22:00"),
            (),
            local(NY, "2026-11-25 02:00"),
            id="a stretch over several windows",
        ),
        pytest.param(
            schedule(
                {day: ["00:00-24:00"] for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
            ),
            local(NY, "2026-11-23 22:00"),
            (),
            None,
            id="around the clock never closes within the horizon",
        ),
        pytest.param(
            schedule(
                {day: ["00:00-24:00"] for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")},
                public={date(2026, 11, 26): "Thanksgiving"},
            ),
            local(NY, "2026-11-23 22:00"),
            (),
            local(NY, "2026-11-26 00:00"),
            id="around the clock until a holiday",
        ),
    ],
)
def test_open_until_finds_the_end_of_the_open_stretch(
    sched: Schedule, at: datetime, agreement: tuple[Window, ...], expected: datetime | None
) -> None:
    until = open_until(sched, at, agreement)
    assert utc(until) == utc(expected)
    if until is not None:
        assert until.tzinfo == ZoneInfo(sched.timezone)
        assert not is_open(sched, until, agreement).open
        assert is_open(sched, until - timedelta(minutes=1), agreement).open
