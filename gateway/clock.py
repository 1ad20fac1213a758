"""The one place that reads the wall clock; everything else is handed `now`."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


def utc_iso(moment: datetime | None) -> str | None:
    """An instant as it leaves the gateway (audit details, decisions): ISO 8601 in UTC, never
    in the therapist's zone that the rules work in."""
    return moment.astimezone(UTC).isoformat() if moment is not None else None
