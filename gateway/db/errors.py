"""Database errors worth telling apart."""

from __future__ import annotations

from typing import Final

from sqlalchemy.exc import DBAPIError

# PostgreSQL's deadlock and serialization failures: two transactions met on the same rows and
# one was chosen to fail. Run again, alone, it succeeds or sees the other's work.
_CONTENTION_STATES: Final = frozenset({"40P01", "40001"})


def is_contention(exc: BaseException) -> bool:
    state = getattr(getattr(exc, "orig", None), "sqlstate", None)
    return isinstance(exc, DBAPIError) and state in _CONTENTION_STATES
