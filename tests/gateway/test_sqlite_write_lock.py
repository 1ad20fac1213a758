"""SQLite's write lock: a writer waits for it on the event loop and takes it when it frees."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.db import engine as engine_module
from gateway.db.engine import create_engine, reader


def hold_write_lock(path: Path) -> sqlite3.Connection:
    """Another process's writer, as far as this engine can tell."""
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("PRAGMA journal_mode=WAL")
    holder.execute("CREATE TABLE IF NOT EXISTS t (n INTEGER)")
    holder.execute("BEGIN IMMEDIATE")
    return holder


async def insert_one(engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        await connection.execute(text("INSERT INTO t VALUES (1)"))


async def count_rows(engine: AsyncEngine) -> int:
    async with reader(engine).connect() as connection:
        return int((await connection.execute(text("SELECT count(*) FROM t"))).scalar_one())


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
        writing = asyncio.create_task(insert_one(engine))
        await asyncio.sleep(0.2)
        assert not writing.done()
        # The waiting writer did not block the event loop.
        assert ticks > 5
        holder.commit()
        await asyncio.wait_for(writing, 5)
        assert await count_rows(engine) == 1
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
            await insert_one(engine)
        # Readers are never held up by the writer.
        assert await count_rows(engine) == 0
    finally:
        holder.close()
        await engine.dispose()


async def test_an_engine_that_gives_way_waits_while_the_writer_is_busy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(engine_module, "_GIVE_WAY_SECONDS", 30.0)
    path = tmp_path / "lock.db"
    hold_write_lock(path).close()
    busy = True
    engine = create_engine(f"sqlite+aiosqlite:///{path}", give_way_to=lambda: busy)
    try:
        writing = asyncio.create_task(insert_one(engine))
        await asyncio.sleep(0.05)
        assert not writing.done()
        busy = False
        await asyncio.wait_for(writing, 5)
        assert await count_rows(engine) == 1
    finally:
        await engine.dispose()


async def test_an_engine_that_gives_way_is_delayed_for_a_moment_not_for_ever(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(engine_module, "_GIVE_WAY_SECONDS", 0.05)
    path = tmp_path / "lock.db"
    hold_write_lock(path).close()
    engine = create_engine(f"sqlite+aiosqlite:///{path}", give_way_to=lambda: True)
    try:
        await asyncio.wait_for(insert_one(engine), 5)
        assert await count_rows(engine) == 1
    finally:
        await engine.dispose()
