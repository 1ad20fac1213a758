"""Database errors worth telling apart."""

from __future__ import annotations

from typing import Final

from sqlalchemy.exc import DataError, DBAPIError, IntegrityError

# PostgreSQL's deadlock and serialization failures: two transactions met on the same rows and
# one was chosen to fail. Run again, alone, it succeeds or sees the other's work.
_CONTENTION_STATES: Final = frozenset({"40P01", "40001"})


def is_contention(exc: BaseException) -> bool:
    state = getattr(getattr(exc, "orig", None), "sqlstate", None)
    return isinstance(exc, DBAPIError) and state in _CONTENTION_STATES


# Errors that a write's own values cause, not the database's state (a value no column holds
# raises OverflowError on SQLite); PostgreSQL's data exceptions and constraint violations
# (SQLSTATE classes 22 and 23) can reach us as plain DBAPIError through asyncpg.
_VALUE_ERRORS: Final = (IntegrityError, DataError, ValueError, TypeError, ArithmeticError)
_VALUE_STATE_CLASSES: Final = ("22", "23")


def caused_by_its_values(exc: BaseException) -> bool:
    """Whether the write failed because of what it holds: written again, it fails again."""
    if isinstance(exc, _VALUE_ERRORS):
        return True
    state = getattr(getattr(exc, "orig", None), "sqlstate", None)
    return (
        isinstance(exc, DBAPIError) and isinstance(state, str) and state[:2] in _VALUE_STATE_CLASSES
    )
