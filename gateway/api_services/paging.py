"""Keyset pagination: opaque cursors that name the last item a page showed.

A cursor is base64url JSON of that item's sort key, so paging stays correct while new rows
arrive, and anything a client makes up is refused with a 400 rather than misread.
"""

from __future__ import annotations

import base64
import binascii
import json
from datetime import UTC, datetime
from typing import Final

from gateway.api_services.errors import InvalidInputError

DEFAULT_LIMIT: Final = 100
MAX_LIMIT: Final = 1000


def _encode(parts: list[str | int]) -> str:
    raw = json.dumps(parts, separators=(",", ":")).encode("utf-8")
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def _refused() -> InvalidInputError:
    return InvalidInputError("cursor is not one this list gave out; start again without it")


def _decode(cursor: str, size: int) -> list[object]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        parts = json.loads(raw.decode("utf-8"))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise _refused() from None
    if not isinstance(parts, list) or len(parts) != size:
        raise _refused()
    return parts


def time_cursor(at: datetime, row_id: str) -> str:
    return _encode([at.astimezone(UTC).isoformat(), row_id])


def read_time_cursor(cursor: str) -> tuple[datetime, str]:
    at, row_id = _decode(cursor, 2)
    if not isinstance(at, str) or not isinstance(row_id, str):
        raise _refused()
    try:
        moment = datetime.fromisoformat(at)
    except ValueError:
        raise _refused() from None
    if moment.tzinfo is None:
        raise _refused()
    try:
        # The database compares in UTC, and an offset can carry year 1 or 9999 outside it.
        return moment.astimezone(UTC), row_id
    except OverflowError:
        raise _refused() from None


def seq_cursor(seq: int) -> str:
    return _encode([seq])


def read_seq_cursor(cursor: str) -> int:
    (seq,) = _decode(cursor, 1)
    # bool is an int to Python, and a float would compare loosely.
    if type(seq) is not int or not 0 <= seq < 2**62:
        raise _refused()
    return seq
