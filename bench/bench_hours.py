"""How long `rules.hours.next_opening` takes over long closed stretches, against a scan.

The scan asks `is_open` minute after minute, the obvious way to find an opening, so the ratio
shows what jumping from event to event saves. A scan over 1,000 days is too slow to run
whole; it is timed over a fixed number of minutes and extrapolated, and the output says so.

Run from the repository root:  python bench/bench_hours.py [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import timeit
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from time import perf_counter
from zoneinfo import ZoneInfo

from rules.hours import is_open, next_opening
from rules.schedule import DateRange, Schedule, Window, parse_weekly_hours
from rules.wording import describe_opening

ZONE = "America/New_York"
WEEKDAYS_9_TO_5 = parse_weekly_hours(
    {day: ["09:00-17:00"] for day in ("mon", "tue", "wed", "thu", "fri")}
)
SAMPLED_STEPS = 20_000  # minutes actually scanned when a full scan would take too long
MINUTE = timedelta(minutes=1)


@dataclass(frozen=True)
class Case:
    name: str
    schedule: Schedule
    after: datetime
    horizon: timedelta
    full_scan: bool  # False: time SAMPLED_STEPS minutes of the scan and extrapolate


@dataclass(frozen=True)
class Result:
    case: str
    opening: str
    gap_minutes: int
    next_opening_seconds: float
    brute_force_seconds: float
    brute_force_estimated: bool
    brute_force_steps_timed: int
    ratio: float


def local(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(ZONE))


CASES = (
    Case(
        "weekend (Fri 17:00 to Mon 09:00)",
        Schedule(ZONE, WEEKDAYS_9_TO_5),
        local("2026-11-20 17:00"),
        timedelta(days=366),
        full_scan=True,
    ),
    Case(
        "3-week time off",
        Schedule(
            ZONE,
            WEEKDAYS_9_TO_5,
            time_off=(DateRange(date(2026, 12, 7), date(2026, 12, 27), "Leave"),),
        ),
        local("2026-12-07 08:00"),
        timedelta(days=366),
        full_scan=True,
    ),
    Case(
        "1,000-day time off",
        Schedule(
            ZONE,
            WEEKDAYS_9_TO_5,
            time_off=(DateRange(date(2026, 1, 5), date(2028, 9, 30), "Sabbatical"),),
        ),
        local("2026-01-05 08:00"),
        timedelta(days=1_100),
        full_scan=False,
    ),
)


def minute_scan(
    schedule: Schedule, after: datetime, steps: int, agreement: Sequence[Window] = ()
) -> datetime | None:
    """The brute force: ask is_open at every minute, at most `steps` times."""
    # Stepping in UTC: adding minutes to a local time steps wall-clock time, through DST gaps.
    moment = after.astimezone(UTC)
    for _ in range(steps):
        if is_open(schedule, moment, agreement).open:
            return moment
        moment += MINUTE
    return None


def time_next_opening(case: Case) -> float:
    timer = timeit.Timer(lambda: next_opening(case.schedule, case.after, horizon=case.horizon))
    number, _ = timer.autorange()
    return min(timer.repeat(repeat=5, number=number)) / number


def run(case: Case) -> Result:
    opening = next_opening(case.schedule, case.after, horizon=case.horizon)
    if opening is None:
        raise SystemExit(f"{case.name}: next_opening found nothing; the case is wrong")
    # Subtracting in UTC: two times of one zone subtract as wall-clock times.
    gap = int((opening.at.astimezone(UTC) - case.after.astimezone(UTC)).total_seconds() // 60)
    steps = gap + 1 if case.full_scan else SAMPLED_STEPS
    started = perf_counter()
    scanned = minute_scan(case.schedule, case.after, steps)
    scan_seconds = perf_counter() - started
    if case.full_scan:
        # The scan is the reference: both must name the same instant.
        if scanned is None or scanned != opening.at.astimezone(UTC):
            raise SystemExit(f"{case.name}: scan found {scanned}, next_opening {opening.at}")
        brute_force = scan_seconds
    else:
        if scanned is not None:
            raise SystemExit(f"{case.name}: scan found {scanned} before {opening.at}")
        brute_force = scan_seconds * (gap + 1) / steps
    fast = time_next_opening(case)
    return Result(
        case=case.name,
        opening=describe_opening(opening.at, case.after, ZONE),
        gap_minutes=gap,
        next_opening_seconds=fast,
        brute_force_seconds=brute_force,
        brute_force_estimated=not case.full_scan,
        brute_force_steps_timed=steps,
        ratio=brute_force / fast,
    )


def seconds(value: float) -> str:
    if value < 1e-3:
        return f"{value * 1e6:,.0f} us"
    if value < 1:
        return f"{value * 1e3:,.1f} ms"
    return f"{value:,.1f} s"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write results as JSON")
    args = parser.parse_args(argv)

    results = [run(case) for case in CASES]

    header = ("case", "gap (min)", "next_opening", "minute scan", "ratio")
    rows = [
        (
            result.case,
            f"{result.gap_minutes:,}",
            seconds(result.next_opening_seconds),
            seconds(result.brute_force_seconds) + (" *" if result.brute_force_estimated else ""),
            f"{result.ratio:,.0f}x",
        )
        for result in results
    ]
    widths = [max(len(row[i]) for row in (header, *rows)) for i in range(len(header))]
    for row in (header, *rows):
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)))
    if any(result.brute_force_estimated for result in results):
        print(
            f"* estimated: the scan was timed over its first {SAMPLED_STEPS:,} minutes "
            "and extrapolated to the whole gap"
        )
    print(f"Python {platform.python_version()} on {platform.machine()} ({platform.system()})")

    if args.json is not None:
        report = {
            "python": platform.python_version(),
            "machine": platform.machine(),
            "system": platform.system(),
            "results": [asdict(result) for result in results],
        }
        args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
