"""The async engine, tuned per database."""

from __future__ import annotations

import asyncio
import functools
import sqlite3
import time
from collections.abc import Callable
from typing import Any, Final

from sqlalchemy import Connection, event
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry
from sqlalchemy.util import await_only


def _sqlite_pragmas(dbapi_connection: Any, _: ConnectionPoolEntry) -> None:
    # Transactions are begun explicitly (see _sqlite_begin), not by the driver.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    # WAL lets readers run beside the single writer; FULL makes every answered message durable
    # with one fsync per group commit.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    # Only BEGIN IMMEDIATE waits for the write lock, and _sqlite_begin does the waiting. In WAL
    # mode readers and statements inside a write transaction practically never find the
    # database busy; one that does gets a database error, handled as an outage is.
    cursor.execute("PRAGMA busy_timeout=0")
    cursor.close()


_READ_ONLY = "gateway_read_only"
_LOCK_WAIT_SECONDS: Final = 5.0
_FIRST_PAUSE: Final = 0.0002
_LONGEST_PAUSE: Final = 0.002
_GIVE_WAY_SECONDS: Final = 0.05

Busy = Callable[[], bool]


def _sqlite_begin(connection: Connection, *, give_way_to: Busy | None) -> None:
    # IMMEDIATE takes the write lock at the start: a transaction that reads the audit head and
    # then appends can never lose a race to another process's writer half-way through.
    # Readers begin deferred, so in WAL mode they never wait for a writer.
    if connection.get_execution_options().get(_READ_ONLY, False):
        connection.exec_driver_sql("BEGIN")
        return
    dbapi_connection = connection.connection.dbapi_connection
    assert dbapi_connection is not None  # noqa: S101 - a connection that begins is open
    if give_way_to is not None:
        # Webhooks wait for the group commit; nobody waits for this transaction.
        until = time.monotonic() + _GIVE_WAY_SECONDS
        while give_way_to() and time.monotonic() < until:
            await_only(asyncio.sleep(_FIRST_PAUSE))
    # SQLite's own busy handler sleeps 1, 2, 5, 10, 15, 20, 25... ms between tries, so a
    # writer queued behind a 2 ms transaction often slept tens of milliseconds while the
    # database sat idle (measured under the webhook benchmark with the delivery worker running:
    # the group commit's p99 wait was 80 ms). Polling every fraction of a millisecond, on the
    # event loop, takes the lock when it frees.
    deadline = time.monotonic() + _LOCK_WAIT_SECONDS
    pause = _FIRST_PAUSE
    while True:
        try:
            await_only(dbapi_connection.driver_connection.execute("BEGIN IMMEDIATE"))
            return
        except sqlite3.OperationalError as exc:
            if exc.sqlite_errorcode != sqlite3.SQLITE_BUSY or time.monotonic() > deadline:
                # As SQLAlchemy would have raised it, for callers that handle database errors.
                raise OperationalError("BEGIN IMMEDIATE", None, exc) from None
        await_only(asyncio.sleep(pause))
        pause = min(pause * 2, _LONGEST_PAUSE)


def create_engine(url: str, *, pool_size: int = 5, give_way_to: Busy | None = None) -> AsyncEngine:
    """An engine whose errors never echo statement parameters (they may hold PHI).

    On SQLite, an engine that gives way to a busy writer of the same process (the group
    commit) begins its write transactions once that writer is idle, or after a short wait."""
    if url.startswith("sqlite"):
        engine = create_async_engine(url, hide_parameters=True)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        event.listen(
            engine.sync_engine, "begin", functools.partial(_sqlite_begin, give_way_to=give_way_to)
        )
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
