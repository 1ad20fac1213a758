"""Instants in and out of the API: ISO 8601 with an offset in, UTC out."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Final

# A '+' in a query string arrives as a space; ISO 8601 never puts a space before an offset,
# so "10:00:00 05:00" can only have been "10:00:00+05:00".
_PLUS_AS_SPACE: Final = re.compile(
    r"(.*[0-9]:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]+)?)?) ([0-9]{2}(?::?[0-9]{2})?)"
)


def parse_instant(value: object) -> datetime:
    """An aware UTC datetime from ISO 8601 text that carries an offset (or Z)."""
    if not isinstance(value, str):
        raise ValueError("must be an ISO 8601 time with an offset, such as 2026-12-01T15:00:00Z")
    # RFC 3339 allows a lower-case "t" and "z"; nothing else in such a time is a letter.
    text = value.strip().upper()
    if not text.isprintable():
        raise ValueError("holds control characters")
    repaired = _PLUS_AS_SPACE.fullmatch(text)
    if repaired is not None:
        text = f"{repaired[1]}+{repaired[2]}"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(
            "must be an ISO 8601 time with an offset, such as 2026-12-01T15:00:00Z "
            "(in a URL, write + as %2B)"
        ) from None
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("has no UTC offset; add one, such as Z or -05:00")
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        raise ValueError("is out of range") from None


def utc(moment: datetime | None) -> datetime | None:
    return moment.astimezone(UTC) if moment is not None else None
