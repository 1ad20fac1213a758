"""The send rate per number holds across workers; crisis alerts go first and never wait."""

from __future__ import annotations

import asyncio
import itertools
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.db.tables import OutboxRow
from gateway.vault import Vault
from tests.fakes.twilio_api import FakeTwilio
from tests.integration.delivery.conftest import WorkerFactory
from tests.integration.delivery.queue import (
    LEE_ON_CALL,
    insert_rows,
    outbox,
    plain_row,
    queue_alert,
)
from tests.support.clock import FixedClock


async def test_sends_from_one_number_are_spaced_by_the_send_rate(
    db: AsyncEngine, vault: Vault, fake: FakeTwilio, make_worker: WorkerFactory, clock: FixedClock
) -> None:
    now = clock.now()
    rows = [plain_row(vault, at=now, body=f"notice {n}") for n in range(4)]
    await insert_rows(db, OutboxRow, rows)
    workers = [await make_worker(worker_id=f"w{n}") for n in range(2)]

    for tenth in range(60):
        at = now + timedelta(milliseconds=100 * tenth)
        await asyncio.gather(*(worker.run_once(at) for worker in workers))

    sent_at = sorted(row.sent_at for row in (await outbox(db)).values())
    assert len(sent_at) == 4
    assert len(fake.messages) == 4
    gaps = [later - earlier for earlier, later in itertools.pairwise(sent_at)]
    assert all(gap >= timedelta(seconds=1) for gap in gaps), gaps


async def test_a_deferred_send_waits_for_the_number_to_be_free(
    db: AsyncEngine, vault: Vault, fake: FakeTwilio, make_worker: WorkerFactory, clock: FixedClock
) -> None:
    now = clock.now()
    rows = [plain_row(vault, at=now, body=f"notice {n}") for n in range(2)]
    await insert_rows(db, OutboxRow, rows)

    worker = await make_worker()
    await worker.run_once(now)

    assert sorted(row.state for row in (await outbox(db)).values()) == ["pending", "sent"]
    assert await worker.run_once(now + timedelta(milliseconds=900)) == 0
    assert len(fake.messages) == 1
    assert await worker.run_once(now + timedelta(seconds=1)) == 1
    assert [row.state for row in (await outbox(db)).values()] == ["sent", "sent"]
    assert len(fake.messages) == 2


async def test_a_crisis_alert_jumps_the_queue_and_the_rate_limit(
    db: AsyncEngine, vault: Vault, fake: FakeTwilio, make_worker: WorkerFactory, clock: FixedClock
) -> None:
    now = clock.now()
    earlier = now - timedelta(minutes=5)
    queued = [plain_row(vault, at=earlier, body=f"notice {n}") for n in range(3)]
    await insert_rows(db, OutboxRow, queued)
    worker = await make_worker()
    await worker.run_once(earlier)  # one notice went; the number is busy for a second
    alert = await queue_alert(db, vault, at=earlier + timedelta(milliseconds=100))

    await worker.run_once(earlier + timedelta(milliseconds=100))

    assert [message.to for message in fake.messages][-1] == LEE_ON_CALL
    rows = await outbox(db)
    assert rows[alert["id"]].sent_at == earlier + timedelta(milliseconds=100)
    assert sum(row.state == "sent" for row in rows.values()) == 2

    # The alert took a slot of its own: what was queued behind it waits one interval more.
    await worker.run_once(earlier + timedelta(milliseconds=1900))
    assert len(fake.messages) == 2
    await worker.run_once(earlier + timedelta(seconds=2))
    assert len(fake.messages) == 3


async def test_alerts_are_sent_before_everything_due_with_them(
    db: AsyncEngine, vault: Vault, fake: FakeTwilio, make_worker: WorkerFactory, clock: FixedClock
) -> None:
    now = clock.now()
    notices = [
        plain_row(
            vault, at=now - timedelta(minutes=1), body=f"notice {n}", from_number=f"+1555000{n:04d}"
        )
        for n in range(5)
    ]
    await insert_rows(db, OutboxRow, notices)
    await queue_alert(db, vault, at=now)

    await (await make_worker()).run_once(now)

    assert len(fake.messages) == 6
    assert fake.messages[0].to == LEE_ON_CALL


async def test_messages_due_together_go_in_the_order_they_were_written(
    db: AsyncEngine, vault: Vault, fake: FakeTwilio, make_worker: WorkerFactory, clock: FixedClock
) -> None:
    """Replies held to one opening are all due at once; they must reach the client in the
    order the therapist wrote them, not in the order of their random ids."""
    opening = clock.now()

    def written(n: int) -> datetime:
        return opening - timedelta(hours=2) + timedelta(minutes=n)

    rows: list[dict[str, Any]] = []
    for _ in range(100):  # until the random ids are out of the written order, as is likely
        rows = [
            plain_row(vault, at=written(n), body=f"reply {n}", due_in=opening - written(n))
            for n in range(6)
        ]
        if [row["id"] for row in rows] != sorted(row["id"] for row in rows):
            break
    await insert_rows(db, OutboxRow, rows)
    worker = await make_worker()

    for second in range(10):
        await worker.run_once(opening + timedelta(seconds=second))

    assert [sent.body for sent in fake.messages] == [f"reply {n}" for n in range(6)]
