import ast
import sys
from datetime import date, datetime
from pathlib import Path

import pytest

from rules.schedule import (
    WEEKDAYS,
    DateRange,
    Schedule,
    ScheduleError,
    Window,
    check_timezone,
    format_weekly_hours,
    merge_windows,
    parse_weekly_hours,
    parse_window,
)

MON, TUE, WED, THU, FRI, SAT, SUN = range(7)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("09:00-17:00", Window(MON, 540, 1020)),
        ("00:00-24:00", Window(MON, 0, 1440)),
        ("21:00-02:00", Window(MON, 1260, 120)),
        ("23:30-00:00", Window(MON, 1410, 1440)),
        ("9:00-17:30", Window(MON, 540, 1050)),
        (" 09:00 - 17:00 ", Window(MON, 540, 1020)),
        ("17:00-09:00", Window(MON, 1020, 540)),
    ],
)
def test_parse_window_reads_wall_clock_minutes(text: str, expected: Window) -> None:
    assert parse_window(MON, text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("25:00-26:00", '"25:00" is not a time of day (HH:MM, 00:00-24:00)'),
        ("09:00-24:30", '"24:30" is not a time of day (HH:MM, 00:00-24:00)'),
        ("09:60-10:00", '"09:60" is not a time of day (HH:MM, 00:00-24:00)'),
        ("9-5", '"9" is not a time of day (HH:MM, 00:00-24:00)'),
        ("", 'window "" is empty; expected HH:MM-HH:MM'),
        ("   ", 'window "   " is empty; expected HH:MM-HH:MM'),
        ("09:00", 'window "09:00" is not HH:MM-HH:MM'),
        ("09:00-10:00-11:00", 'window "09:00-10:00-11:00" is not HH:MM-HH:MM'),
        ("09:00-09:00", 'window "09:00-09:00" starts and ends at the same time'),
        ("00:00-00:00", 'window "00:00-00:00" starts and ends at the same time'),
        ("24:00-02:00", 'window "24:00-02:00" starts at 24:00; start at 00:00 of the next day'),
        ("\u0660\u0669:00-17:00", "is not a time of day"),
    ],
)
def test_parse_window_refuses_with_a_precise_message(text: str, message: str) -> None:
    with pytest.raises(ScheduleError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_window(MON, text)


def test_a_schedule_error_is_a_value_error() -> None:
    assert issubclass(ScheduleError, ValueError)


@pytest.mark.parametrize(
    ("window", "label"),
    [
        (Window(MON, 540, 1020), "mon 09:00-17:00"),
        (Window(FRI, 1260, 120), "fri 21:00-02:00"),
        (Window(SUN, 0, 1440), "sun 00:00-24:00"),
    ],
)
def test_window_label_names_day_and_times(window: Window, label: str) -> None:
    assert window.label == label


@pytest.mark.parametrize(
    ("day", "start", "end", "message"),
    [
        (7, 0, 60, "window day 7 is not 0 (Monday) to 6 (Sunday)"),
        (MON, 1440, 60, "window start 1440 is not a minute of the day"),
        (MON, 60, 0, "window end 0 is not a minute of the day"),
        (MON, 60, 60, "starts and ends at the same time"),
    ],
)
def test_window_refuses_impossible_values(day: int, start: int, end: int, message: str) -> None:
    with pytest.raises(ScheduleError, match=message.replace("(", r"\(").replace(")", r"\)")):
        Window(day, start, end)


@pytest.mark.parametrize(
    ("hours", "expected"),
    [
        pytest.param({}, {}, id="no days is always closed"),
        pytest.param(
            {"mon": ["09:00-12:00", "13:00-17:00"]},
            {"mon": ["09:00-12:00", "13:00-17:00"]},
            id="a lunch break stays a gap",
        ),
        pytest.param(
            {"mon": ["13:00-17:00", "09:00-13:00"]},
            {"mon": ["09:00-17:00"]},
            id="adjacent windows merge",
        ),
        pytest.param(
            {"mon": ["09:00-12:00", "11:00-18:00", "10:00-11:00"]},
            {"mon": ["09:00-18:00"]},
            id="overlapping windows merge",
        ),
        pytest.param(
            {"mon": ["21:00-24:00"], "tue": ["00:00-02:00"]},
            {"mon": ["21:00-02:00"]},
            id="adjacent across midnight merge into an overnight window",
        ),
        pytest.param(
            {"sun": ["22:00-24:00"], "mon": ["00:00-02:00", "09:00-17:00"]},
            {"mon": ["09:00-17:00"], "sun": ["22:00-02:00"]},
            id="adjacent across the week's end merge",
        ),
        pytest.param(
            {"sun": ["22:00-03:00"], "mon": ["01:00-02:00"]},
            {"sun": ["22:00-03:00"]},
            id="an overnight window swallows the next day's early window",
        ),
        pytest.param(
            {"mon": ["21:00-24:00"], "tue": ["00:00-24:00"], "wed": ["00:00-02:00"]},
            {"mon": ["21:00-24:00"], "tue": ["00:00-24:00"], "wed": ["00:00-02:00"]},
            id="a stretch longer than a day is cut at midnights",
        ),
        pytest.param(
            {day: ["00:00-24:00"] for day in WEEKDAYS},
            {day: ["00:00-24:00"] for day in WEEKDAYS},
            id="around the clock",
        ),
    ],
)
def test_parse_weekly_hours_merges_into_a_canonical_week(
    hours: dict[str, list[str]], expected: dict[str, list[str]]
) -> None:
    assert format_weekly_hours(parse_weekly_hours(hours)) == expected


def test_parse_weekly_hours_is_ordered_by_day_then_start() -> None:
    windows = parse_weekly_hours({"fri": ["21:00-02:00"], "mon": ["13:00-17:00", "08:00-09:00"]})
    assert [w.label for w in windows] == ["mon 08:00-09:00", "mon 13:00-17:00", "fri 21:00-02:00"]


def test_parse_weekly_hours_and_format_weekly_hours_round_trip() -> None:
    hours = {"mon": ["09:00-12:00", "13:00-17:00"], "tue": ["09:00-17:00"], "fri": ["21:00-02:00"]}
    assert format_weekly_hours(parse_weekly_hours(hours)) == hours


def test_merging_around_the_whole_week_leaves_seven_whole_days() -> None:
    overnight = [Window(day, 600, 599) for day in range(7)]
    windows = [*overnight, *(Window(day, 599, 600) for day in range(7))]
    assert merge_windows(windows) == tuple(Window(day, 0, 1440) for day in range(7))


@pytest.mark.parametrize(
    ("hours", "message"),
    [
        ({"monday": ["09:00-17:00"]}, 'unknown day "monday" (expected one of mon, tue'),
        ({"Mon": ["09:00-17:00"]}, 'unknown day "Mon"'),
        ({"mon": "09:00-17:00"}, 'mon: expected a list of windows like ["09:00-17:00"]'),
        ({"tue": [9]}, 'tue: window 9 is not a string like "09:00-17:00"'),
        ({"wed": ["09:00-12:00", "20:00-20:00x"]}, 'wed: "20:00x" is not a time of day'),
        ({"sat": ["10:00-10:00"]}, 'sat: window "10:00-10:00" starts and ends at the same time'),
    ],
)
def test_parse_weekly_hours_names_the_day_that_is_wrong(hours: object, message: str) -> None:
    with pytest.raises(ScheduleError) as raised:
        parse_weekly_hours(hours)  # type: ignore[arg-type]
    assert str(raised.value).startswith(message)


def test_date_range_refuses_an_end_before_its_start() -> None:
    with pytest.raises(ScheduleError, match=r"date range 2026-12-26\.\.2026-12-24 ends before it"):
        DateRange(date(2026, 12, 26), date(2026, 12, 24))


def test_date_range_refuses_datetimes() -> None:
    with pytest.raises(ScheduleError, match="must use dates, not times"):
        DateRange(datetime(2026, 12, 24), date(2026, 12, 26))


def test_date_range_includes_both_ends() -> None:
    dates = DateRange(date(2026, 12, 24), date(2026, 12, 26), "Holidays")
    assert date(2026, 12, 24) in dates
    assert date(2026, 12, 26) in dates
    assert date(2026, 12, 27) not in dates
    assert dates.label == "2026-12-24..2026-12-26"


@pytest.mark.parametrize(
    "name", ["America/New_York", "Europe/London", "UTC", "Asia/Kolkata", "Australia/Lord_Howe"]
)
def test_check_timezone_accepts_zone_keys(name: str) -> None:
    assert check_timezone(name) == name


@pytest.mark.parametrize(
    "name",
    [
        "Mars/Base",
        "",
        "america/new_york",
        "localtime",
        "../../../etc/passwd",
        "/usr/share/zoneinfo/UTC",
        "America/",
    ],
)
def test_check_timezone_refuses_anything_but_a_zone_key(name: str) -> None:
    with pytest.raises(ScheduleError, match=f'^unknown time zone "{name}"$'):
        check_timezone(name)


def test_schedule_refuses_an_unknown_zone() -> None:
    with pytest.raises(ScheduleError, match='unknown time zone "Mars/Base"'):
        Schedule("Mars/Base", ())


def test_schedule_is_frozen_and_hashable_with_its_holidays() -> None:
    schedule = Schedule("UTC", [Window(MON, 0, 60)], holidays={date(2026, 1, 1): "New Year"})  # type: ignore[arg-type]
    assert schedule.hours == (Window(MON, 0, 60),)
    assert hash(schedule) == hash(Schedule("UTC", (Window(MON, 0, 60),)))
    with pytest.raises(AttributeError):
        schedule.timezone = "Europe/London"  # type: ignore[misc]


def test_schedule_has_no_holidays_by_default() -> None:
    assert dict(Schedule("UTC", ()).holidays) == {}


RULES = Path(__file__).resolve().parents[2] / "rules"


@pytest.mark.parametrize("module", ["schedule.py", "hours.py", "wording.py"])
def test_hours_modules_import_only_the_standard_library(module: str) -> None:
    tree = ast.parse((RULES / module).read_text(encoding="utf-8"))
    imported = {
        name.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for name in (
            [alias.name for alias in node.names]
            if isinstance(node, ast.Import)
            else [node.module or ""]
        )
    }
    assert imported - {"rules"} <= set(sys.stdlib_module_names)
