"""Verifying the audit chain stored in the database, one batch in memory at a time."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Final

from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.audit.chain import AuditRecord, VerifyResult, verify_chain
from gateway.audit.store import iter_records

CHUNK: Final = 1000
# How long the verifying thread waits for one chunk from the database.
CHUNK_TIMEOUT_SECONDS: Final = 60.0


async def verify_stored_chain(
    connection: AsyncConnection, expect_head: tuple[int, str] | None = None
) -> VerifyResult:
    """`verify_chain` over every stored entry, streamed rather than loaded whole.

    `verify_chain` is synchronous and takes an iterator, so it runs in a thread that pulls
    chunks from this event loop; the chain may be longer than memory allows.
    """
    loop = asyncio.get_running_loop()
    records = iter_records(connection, batch=CHUNK)

    async def next_chunk() -> list[AuditRecord]:
        chunk: list[AuditRecord] = []
        while len(chunk) < CHUNK:
            record = await anext(records, None)
            if record is None:
                break
            chunk.append(record)
        if connection.in_transaction():
            # On SQLite every transaction holds the write lock (BEGIN IMMEDIATE): ending the
            # read between chunks lets the running gateway keep writing during a long walk.
            await connection.commit()
        return chunk

    def pulled() -> Iterator[AuditRecord]:
        while True:
            future = asyncio.run_coroutine_threadsafe(next_chunk(), loop)
            chunk = future.result(timeout=CHUNK_TIMEOUT_SECONDS)
            if not chunk:
                return
            yield from chunk

    return await asyncio.to_thread(verify_chain, pulled(), expect_head)
