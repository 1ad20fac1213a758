"""Group commit: one writer task commits many requests' rows in one transaction.

Each request submits a job and awaits its own batch's commit before answering, so every
answered message is durable, while the database sees one transaction (and, on SQLite, one
fsync) per batch instead of one per request. The audit chain is extended inside the same
transaction, once per batch.

A batch that fails is retried job by job, each in its own transaction, so one bad job cannot
take its neighbours down; a database that is down fails them all, and their callers fall back
to the spool.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final, Protocol

import structlog
from sqlalchemy.exc import DataError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from gateway.audit.store import AuditEvent, append_events

log = structlog.get_logger(__name__)

MAX_BATCH: Final = 256
# Errors that one job's rows can cause; only these are worth isolating by retrying singly.
_ONE_JOB_ERRORS: Final = (IntegrityError, DataError, ValueError, TypeError)


class WriteJob(Protocol):
    async def write(self, connection: AsyncConnection) -> tuple[Any, Sequence[AuditEvent]]:
        """Write this job's rows; return its result and the audit events it records."""


@dataclass(slots=True)
class _Pending:
    job: WriteJob
    done: asyncio.Future[Any]


class WriterClosedError(RuntimeError):
    """The writer is shutting down and takes no more jobs."""


class GroupWriter:
    def __init__(self, engine: AsyncEngine, *, max_batch: int = MAX_BATCH) -> None:
        self._engine = engine
        self._max_batch = max_batch
        self._queue: asyncio.Queue[_Pending | None] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self.committed_batches = 0

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="group-writer")

    async def stop(self) -> None:
        """Finish what was submitted, then stop."""
        self._closed = True
        if self._task is None:
            return
        await self._queue.put(None)
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    async def submit(self, job: WriteJob) -> Any:
        """Write the job in the next batch and return its result once committed."""
        if self._closed:
            raise WriterClosedError
        done: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        await self._queue.put(_Pending(job, done))
        return await asyncio.shield(done)

    async def _run(self) -> None:
        while True:
            first = await self._queue.get()
            if first is None:
                return
            batch = [first]
            stop = False
            while len(batch) < self._max_batch and not self._queue.empty():
                item = self._queue.get_nowait()
                if item is None:
                    stop = True
                    break
                batch.append(item)
            await self._commit(batch)
            if stop:
                return

    async def _commit(self, batch: list[_Pending]) -> None:
        try:
            results = await self._write(batch)
        except Exception as exc:  # noqa: BLE001 - every job's caller hears of it
            if len(batch) == 1 or not isinstance(exc, _ONE_JOB_ERRORS):
                # The database itself failed: retrying job by job would only multiply the wait.
                for pending in batch:
                    self._fail(pending, exc)
                return
            log.warning(
                "batch_failed_retrying_singly", count=len(batch), error_type=type(exc).__name__
            )
            for pending in batch:
                try:
                    (result,) = await self._write([pending])
                except Exception as single:  # noqa: BLE001 - reported to the job's caller
                    self._fail(pending, single)
                else:
                    self._resolve(pending, result)
            return
        for pending, result in zip(batch, results, strict=True):
            self._resolve(pending, result)

    async def _write(self, batch: list[_Pending]) -> list[Any]:
        results = []
        events: list[AuditEvent] = []
        async with self._engine.begin() as connection:
            for pending in batch:
                result, job_events = await pending.job.write(connection)
                results.append(result)
                events.extend(job_events)
            await append_events(connection, events)
        self.committed_batches += 1
        return results

    @staticmethod
    def _resolve(pending: _Pending, result: Any) -> None:
        if not pending.done.done():
            pending.done.set_result(result)

    @staticmethod
    def _fail(pending: _Pending, exc: BaseException) -> None:
        log.warning("write_failed", error_type=type(exc).__name__)
        if not pending.done.done():
            pending.done.set_exception(exc)
