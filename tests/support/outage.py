"""A database the test can take away and give back.

On PostgreSQL the gateway talks to the server through a TCP proxy whose link the test cuts
(connections reset and refused). On SQLite another connection holds the write lock, so the
gateway cannot commit (it can still read).
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy.engine import make_url

from gateway.settings import Settings
from tests.support.tcp_proxy import TcpProxy


@asynccontextmanager
async def outage(settings: Settings) -> AsyncIterator[tuple[Settings, Any]]:
    """Settings that reach the database through something the test can break, and a switch
    with `cut()` and `restore()`."""
    url = make_url(settings.database_url)
    if url.get_backend_name() == "sqlite":
        holder = sqlite3.connect(url.database or "", isolation_level=None, check_same_thread=False)

        class Lock:
            async def cut(self) -> None:
                holder.execute("BEGIN EXCLUSIVE")

            async def restore(self) -> None:
                holder.execute("COMMIT")

        try:
            yield settings, Lock()
        finally:
            holder.close()
        return
    async with TcpProxy(url.host or "127.0.0.1", url.port or 5432) as proxy:
        proxied = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
        yield settings.model_copy(update={"database_url": proxied}), proxy
