"""SQLite's write lock: a writer waits for it on the event loop and takes it when it frees."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from gateway.db import engine as engine_module
from gateway.db.engine import create_engine, reader


def hold_write_lock(path: Path) -> sqlite3.Connection:
    """Another process's writer, as far as this engine can tell."""
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("PRAGMA journal_mode=WAL")
    holder.execute("CREATE TABLE IF NOT EXISTS t (n INTEGER)")
    holder.execute("BEGIN IMMEDIATE")
    return holder


async def test_a_writer_takes_the_lock_once_the_other_writer_commits(tmp_path: Path) -> None:
    path = tmp_path / "lock.db"
    holder = hold_write_lock(path)
    engine = create_engine(f"sqlite+aiosqlite:///{path}")
    ticks = 0

    async def loop_stays_free() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.005)

    ticker = asyncio.create_task(loop_stays_free())
    try:

        async def write() -> None:
            async with engine.begin() as connection:
                await connection.execute(text("INSERT INTO t VALUES (1)"))

        writing = asyncio.create_task(write())
        await asyncio.sleep(0.2)
        assert not writing.done()
        # The waiting writer did not block the event loop.
        assert ticks > 5
        holder.commit()
        await asyncio.wait_for(writing, 5)
        async with reader(engine).connect() as connection:
            assert (await connection.execute(text("SELECT count(*) FROM t"))).scalar() == 1
    finally:
        ticker.cancel()
        holder.close()
        await engine.dispose()


async def test_a_lock_never_freed_is_a_database_error_after_the_wait(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(engine_module, "_LOCK_WAIT_SECONDS", 0.2)
    path = tmp_path / "lock.db"
    holder = hold_write_lock(path)
    engine = create_engine(f"sqlite+aiosqlite:///{path}")
    try:
        # SQLAlchemy's error, as every caller that falls back on a database error expects.
        with pytest.raises(OperationalError):
            async with engine.begin() as connection:
                await connection.execute(text("INSERT INTO t VALUES (1)"))
        # Readers are never held up by the writer.
        async with reader(engine).connect() as connection:
            assert (await connection.execute(text("SELECT count(*) FROM t"))).scalar() == 0
    finally:
        holder.close()
        await engine.dispose()


async def test_an_engine_that_gives_way_waits_for_the_busy_writer_but_never_starves(
    tmp_path: Path,
) -> None:
    path = tmp_path / "lock.db"
    hold_write_lock(path).close()
    busy = True
    engine = create_engine(f"sqlite+aiosqlite:///{path}", give_way_to=lambda: busy)

    async def write() -> None:
        async with engine.begin() as connection:
            await connection.execute(text("INSERT INTO t VALUES (1)"))

    try:
        writing = asyncio.create_task(write())
        await asyncio.sleep(0.02)
        assert not writing.done()
        busy = False
        await asyncio.wait_for(writing, 5)
        # A writer that stays busy delays it for a moment, not for ever.
        busy = True
        await asyncio.wait_for(write(), 5)
        async with reader(engine).connect() as connection:
            assert (await connection.execute(text("SELECT count(*) FROM t"))).scalar() == 2
    finally:
        await engine.dispose()
