"""INSERTs that meet an existing row, in the connection's dialect (SQLite or PostgreSQL)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection


def upsert_insert(connection: AsyncConnection, table: Any) -> Any:
    """An INSERT that can take ON CONFLICT clauses, in the connection's dialect."""
    dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
    return dialect.insert(table)


def insert_ignoring_conflicts(connection: AsyncConnection, table: Any) -> Any:
    """INSERT ... ON CONFLICT DO NOTHING in the connection's dialect."""
    return upsert_insert(connection, table).on_conflict_do_nothing()
