"""The async engine, tuned per database."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, event
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry


def _sqlite_pragmas(dbapi_connection: Any, _: ConnectionPoolEntry) -> None:
    # Transactions are begun explicitly (see _sqlite_begin), not by the driver.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    # WAL lets readers run beside the single writer; FULL makes every answered message durable
    # with one fsync per group commit.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


_READ_ONLY = "gateway_read_only"


def _sqlite_begin(connection: Connection) -> None:
    # IMMEDIATE takes the write lock at the start: a transaction that reads the audit head and
    # then appends can never lose a race to another process's writer half-way through.
    # Readers begin deferred, so in WAL mode they never wait for a writer.
    read_only = connection.get_execution_options().get(_READ_ONLY, False)
    connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")


def create_engine(url: str, *, pool_size: int = 5) -> AsyncEngine:
    """An engine whose errors never echo statement parameters (they may hold PHI)."""
    if url.startswith("sqlite"):
        engine = create_async_engine(url, hide_parameters=True)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        event.listen(engine.sync_engine, "begin", _sqlite_begin)
        return engine
    return create_async_engine(
        url,
        hide_parameters=True,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=True,
        pool_timeout=5,
        connect_args={"timeout": 5, "command_timeout": 10},
    )


def reader(engine: AsyncEngine) -> AsyncEngine:
    """The same engine for transactions that only read (on SQLite they never take the write
    lock, so they are never held up by a writer)."""
    return engine.execution_options(**{_READ_ONLY: True})
