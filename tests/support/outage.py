"""A database the test can take away and give back.

On PostgreSQL the gateway talks to the server through a TCP proxy whose link the test cuts
(connections reset and refused). On SQLite another connection holds the write lock, so the
gateway cannot commit (it can still read).
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Protocol

from sqlalchemy.engine import make_url

from gateway.settings import Settings
from tests.support.tcp_proxy import TcpProxy


class Switch(Protocol):
    async def cut(self) -> None: ...

    async def restore(self) -> None: ...


class _WriteLock:
    """SQLite's outage: another connection holds the write lock. Taken off the event loop,
    which must keep running meanwhile: a worker on it may be half-way through a transaction
    that it can only finish (and unlock) on that loop."""

    def __init__(self, path: str) -> None:
        self._holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)

    async def cut(self) -> None:
        await asyncio.to_thread(self._holder.execute, "BEGIN EXCLUSIVE")

    async def restore(self) -> None:
        await asyncio.to_thread(self._holder.execute, "COMMIT")

    def close(self) -> None:
        self._holder.close()


@asynccontextmanager
async def database_outage(settings: Settings) -> AsyncIterator[tuple[Settings, Switch]]:
    """Settings that reach the database through something the test can break, and its
    switch."""
    url = make_url(settings.database_url)
    if url.get_backend_name() == "sqlite":
        lock = _WriteLock(url.database or "")
        try:
            yield settings, lock
        finally:
            lock.close()
        return
    async with TcpProxy(url.host or "127.0.0.1", url.port or 5432) as proxy:
        proxied = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
        yield settings.model_copy(update={"database_url": proxied}), proxy
