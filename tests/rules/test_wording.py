from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from rules.schedule import (
    WEEKDAYS,
    DateRange,
    Schedule,
    ScheduleError,
    Window,
    parse_weekly_hours,
    parse_window,
)
from rules.wording import clock_time, describe_opening, describe_state, zone_abbreviation

NY = "America/New_York"


def local(zone: str, text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(zone))


# 2026-11-23 is a Monday.
MONDAY_MORNING = local(NY, "2026-11-23 10:00")


@pytest.mark.parametrize(
    ("opening", "now", "zone", "expected"),
    [
        pytest.param(
            local(NY, "2026-11-23 13:00"), MONDAY_MORNING, NY, "today at 1:00 PM EST", id="today"
        ),
        pytest.param(
            local(NY, "2026-11-24 09:00"),
            MONDAY_MORNING,
            NY,
            "tomorrow at 9:00 AM EST",
            id="tomorrow",
        ),
        pytest.param(
            local(NY, "2026-11-24 00:00"),
            MONDAY_MORNING,
            NY,
            "tomorrow at 12:00 AM EST",
            id="midnight",
        ),
        pytest.param(
            local(NY, "2026-11-23 12:00"), MONDAY_MORNING, NY, "today at 12:00 PM EST", id="noon"
        ),
        pytest.param(
            local(NY, "2026-11-23 12:30"),
            MONDAY_MORNING,
            NY,
            "today at 12:30 PM EST",
            id="after noon",
        ),
        pytest.param(
            local(NY, "2026-11-25 00:05"),
            MONDAY_MORNING,
            NY,
            "Wednesday at 12:05 AM EST",
            id="weekday",
        ),
        pytest.param(
            local(NY, "2026-11-29 23:59"),
            MONDAY_MORNING,
            NY,
            "Sunday at 11:59 PM EST",
            id="six calendar days away",
        ),
        pytest.param(
            local(NY, "2026-11-30 09:00"),
            MONDAY_MORNING,
            NY,
            "Monday, November 30 at 9:00 AM EST",
            id="seven calendar days away has the date",
        ),
        pytest.param(
            local(NY, "2027-07-12 09:00"),
            local(NY, "2027-07-01 10:00"),
            NY,
            "Monday, July 12 at 9:00 AM EDT",
            id="the contract's example",
        ),
        pytest.param(
            local(NY, "2027-12-06 09:00"),
            local(NY, "2026-12-05 09:00"),
            NY,
            "Monday, December 6, 2027 at 9:00 AM EST",
            id="a year away has the year",
        ),
        pytest.param(
            local(NY, "2027-05-31 09:00"),
            local(NY, "2026-11-30 09:00"),
            NY,
            "Monday, May 31 at 9:00 AM EDT",
            id="half a year away has no year",
        ),
        pytest.param(
            datetime(2026, 11, 24, 14, tzinfo=UTC),
            datetime(2026, 11, 24, 4, 30, tzinfo=UTC),  # 23:30 on Monday in New York
            NY,
            "tomorrow at 9:00 AM EST",
            id="calendar days are the therapist's, not UTC's",
        ),
        pytest.param(
            local(NY, "2026-11-02 09:00"),
            local(NY, "2026-10-30 10:00"),
            NY,
            "Monday at 9:00 AM EST",
            id="across the fall-back change",
        ),
        pytest.param(
            local(NY, "2026-11-20 09:00"),
            MONDAY_MORNING,
            NY,
            "Friday, November 20 at 9:00 AM EST",
            id="a past moment gets its date",
        ),
        pytest.param(
            local("Asia/Dubai", "2026-11-23 13:00"),
            local("Asia/Dubai", "2026-11-23 10:00"),
            "Asia/Dubai",
            "today at 1:00 PM UTC+4",
            id="a zone without letters gets its offset",
        ),
        pytest.param(
            local("Pacific/Marquesas", "2026-11-24 08:00"),
            local("Pacific/Marquesas", "2026-11-23 10:00"),
            "Pacific/Marquesas",
            "tomorrow at 8:00 AM UTC-9:30",
            id="a negative half-hour offset",
        ),
        pytest.param(
            local("Asia/Kathmandu", "2026-11-23 13:00"),
            local("Asia/Kathmandu", "2026-11-23 10:00"),
            "Asia/Kathmandu",
            "today at 1:00 PM UTC+5:45",
            id="a quarter-hour offset",
        ),
        pytest.param(
            local("Asia/Kolkata", "2026-11-23 13:00"),
            local("Asia/Kolkata", "2026-11-23 10:00"),
            "Asia/Kolkata",
            "today at 1:00 PM IST",
            id="Kolkata has letters",
        ),
        pytest.param(
            local("America/St_Johns", "2026-11-23 13:00"),
            local("America/St_Johns", "2026-11-23 10:00"),
            "America/St_Johns",
            "today at 1:00 PM NST",
            id="St John's",
        ),
        pytest.param(
            local("Europe/London", "2026-07-13 09:00"),
            local("Europe/London", "2026-07-13 08:00"),
            "Europe/London",
            "today at 9:00 AM BST",
            id="London in summer",
        ),
        pytest.param(
            datetime(2026, 11, 23, 13, tzinfo=UTC),
            datetime(2026, 11, 23, 10, tzinfo=UTC),
            "UTC",
            "today at 1:00 PM UTC",
            id="UTC",
        ),
    ],
)
def test_describe_opening_follows_the_contract(
    opening: datetime, now: datetime, zone: str, expected: str
) -> None:
    assert describe_opening(opening, now, zone) == expected


def test_describe_opening_converts_into_the_therapists_zone() -> None:
    opening = datetime(2026, 11, 23, 18, tzinfo=UTC)
    assert describe_opening(opening, MONDAY_MORNING, NY) == "today at 1:00 PM EST"


def test_describe_opening_refuses_naive_datetimes() -> None:
    with pytest.raises(ValueError, match="must be an aware datetime"):
        describe_opening(datetime(2026, 11, 23, 13), MONDAY_MORNING, NY)
    with pytest.raises(ValueError, match="must be an aware datetime"):
        describe_opening(MONDAY_MORNING, datetime(2026, 11, 23, 13), NY)


@pytest.mark.parametrize(
    ("hour", "minute", "expected"),
    [
        (0, 0, "12:00 AM"),
        (0, 5, "12:05 AM"),
        (9, 0, "9:00 AM"),
        (11, 59, "11:59 AM"),
        (12, 0, "12:00 PM"),
        (12, 30, "12:30 PM"),
        (13, 0, "1:00 PM"),
        (23, 59, "11:59 PM"),
    ],
)
def test_clock_time_is_twelve_hour_without_a_leading_zero(
    hour: int, minute: int, expected: str
) -> None:
    assert clock_time(datetime(2026, 1, 1, hour, minute, tzinfo=UTC)) == expected


def test_zone_abbreviation_writes_offsets_without_padding() -> None:
    assert zone_abbreviation(local("Asia/Tehran", "2026-11-23 10:00")) == "UTC+3:30"
    assert zone_abbreviation(local("America/Caracas", "2026-11-23 10:00")) == "UTC-4"


LEE = Schedule(
    NY,
    parse_weekly_hours(
        {"mon": ["09:00-12:00", "13:00-17:00"], "tue": ["09:00-17:00"], "fri": ["21:00-02:00"]}
    ),
    time_off=(DateRange(date(2026, 12, 24), date(2026, 12, 26), "Holidays"),),
)


@pytest.mark.parametrize(
    ("schedule", "at", "agreement", "expected"),
    [
        pytest.param(LEE, MONDAY_MORNING, (), "Open until 12:00 PM EST", id="open"),
        pytest.param(
            LEE,
            local(NY, "2026-11-23 12:30"),
            (),
            "Closed; next opening today at 1:00 PM EST",
            id="lunch break",
        ),
        pytest.param(
            LEE,
            local(NY, "2026-11-27 22:00"),
            (),
            "Open until tomorrow at 2:00 AM EST",
            id="overnight",
        ),
        pytest.param(
            LEE,
            local(NY, "2026-11-24 17:00"),
            (),
            "Closed; next opening Friday at 9:00 PM EST",
            id="days away",
        ),
        pytest.param(
            LEE,
            local(NY, "2026-12-23 17:00"),
            (),
            "Closed; next opening Monday at 9:00 AM EST",
            id="over time off",
        ),
        pytest.param(
            Schedule(NY, LEE.hours, time_off=(DateRange(date(2026, 12, 21), date(2026, 12, 26)),)),
            local(NY, "2026-12-21 08:00"),
            (),
            "Closed; next opening Monday, December 28 at 9:00 AM EST",
            id="over time off, a week away",
        ),
        pytest.param(
            LEE,
            local(NY, "2026-11-23 18:00"),
            (parse_window(0, "08:00-21:00"),),
            "Open until 9:00 PM EST",
            id="within the client's agreement",
        ),
        pytest.param(
            Schedule(NY, ()),
            MONDAY_MORNING,
            (),
            "Closed; no opening within a year",
            id="no hours at all",
        ),
        pytest.param(
            Schedule(NY, parse_weekly_hours({day: ["00:00-24:00"] for day in WEEKDAYS})),
            MONDAY_MORNING,
            (),
            "Open; no closing within a year",
            id="around the clock",
        ),
    ],
)
def test_describe_state_is_one_line(
    schedule: Schedule, at: datetime, agreement: tuple[Window, ...], expected: str
) -> None:
    assert describe_state(schedule, at, agreement) == expected


def test_describe_state_reads_the_same_for_any_zone_of_the_moment() -> None:
    in_utc = MONDAY_MORNING.astimezone(UTC)
    assert describe_state(LEE, in_utc) == describe_state(LEE, MONDAY_MORNING)
    assert describe_state(LEE, in_utc + timedelta(hours=2, minutes=30)) == (
        "Closed; next opening today at 1:00 PM EST"
    )


def test_describe_opening_refuses_an_unknown_zone() -> None:
    with pytest.raises(ScheduleError, match='unknown time zone "Mars/Base"'):
        describe_opening(MONDAY_MORNING, MONDAY_MORNING, "Mars/Base")
