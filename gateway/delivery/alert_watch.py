"""Crisis alerts stored just before the database stopped answering.

A crisis message's alert is committed with the message and sent by a worker within a moment.
If the database goes away in that moment (before a worker marked the alert `sending`), no
worker can claim it, and the on-call clinician would hear of the crisis only when the database
returns. The process that stored the message therefore watches its alerts for a few seconds:
one still waiting while the database does not answer, or while this process's worker cannot
get a pass through, goes straight to Twilio like the alerts of a spooled message. Its outcome
is remembered, so the worker settles the row with it instead of alerting twice.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Final

import structlog
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.db.tables import OutboxRow
from gateway.delivery.direct import DirectAlerts

log = structlog.get_logger(__name__)

# A stored alert normally leaves within a fraction of a second; one still waiting after this
# long is looked at.
WATCH_AFTER: Final = 2.0
_STEP: Final = 1.0
_READ_TIMEOUT: Final = 1.0
# Watched no longer: by then the database is back and a worker sends it, or an outage this long
# is one that a direct send at the first look already covered.
_WATCH_LIMIT: Final = 600.0
_WAITING: Final = ("pending", "claimed")


async def _waiting(engine: AsyncEngine, ids: Iterable[str]) -> set[str]:
    """The ids among `ids` that no worker has begun to send."""
    async with engine.connect() as connection:
        rows = await connection.execute(
            select(OutboxRow.id).where(OutboxRow.id.in_(list(ids)), OutboxRow.state.in_(_WAITING))
        )
        return set(rows.scalars())


class StoredAlertWatch:
    """`stalled` tells whether this process's worker cannot get an alert pass through (it
    failed, or has hung for a while); a process without passes (`serve --no-worker`) sends
    directly only when the database does not answer at all."""

    def __init__(
        self, engine: AsyncEngine, direct: DirectAlerts, stalled: Callable[[], bool]
    ) -> None:
        self._engine = engine
        self._direct = direct
        self._stalled = stalled
        self._watched: dict[str, tuple[Mapping[str, Any], float]] = {}
        self._task: asyncio.Task[None] | None = None

    def watch(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """Alert rows just committed (sealed, as `gateway.outbox.outbox_row` builds them)."""
        since = time.monotonic()
        for row in rows:
            self._watched[str(row["id"])] = (row, since)
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="stored-alert-watch")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _run(self) -> None:
        while self._watched:
            await asyncio.sleep(_STEP)
            try:
                await self._check()
            except Exception as exc:  # noqa: BLE001 - the watch must outlive any one failure
                log.error("alert_watch_failed", error_type=type(exc).__name__)

    async def _check(self) -> None:
        now = time.monotonic()
        for row_id, (_, since) in list(self._watched.items()):
            if now - since > _WATCH_LIMIT or self._direct.attempted(row_id):
                del self._watched[row_id]
        due = {
            row_id: row
            for row_id, (row, since) in self._watched.items()
            if now - since >= WATCH_AFTER
        }
        if not due:
            return
        try:
            async with asyncio.timeout(_READ_TIMEOUT):
                waiting = await _waiting(self._engine, due)
        except (SQLAlchemyError, OSError, TimeoutError):
            # The database does not answer: no worker can claim these either.
            waiting = set(due)
        else:
            for row_id in due.keys() - waiting:
                del self._watched[row_id]  # a worker has it
            if not self._stalled():
                return
        if not waiting:
            return
        rows = [dict(due[row_id]) for row_id in sorted(waiting)]
        log.warning("alert_watch_sending_directly", count=len(rows))
        attempts = await self._direct.send(rows)
        for row_id in waiting:
            attempt = attempts.get(row_id)
            if attempt is None or not attempt.again:
                # Sent, outcome unknown (the worker reconciles it), or refused for good.
                self._watched.pop(row_id, None)
