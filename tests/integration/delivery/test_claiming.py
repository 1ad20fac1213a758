"""Any number of workers, in any number of processes, send each row once."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.db.tables import OutboxRow
from gateway.delivery.claim import claim_due, due_backlog
from gateway.delivery.recording import FIRST_CHECK
from gateway.twilio.sender import TwilioRestSender
from gateway.vault import Vault
from tests.fakes.twilio_api import FakeTwilio
from tests.integration.delivery.conftest import WorkerFactory
from tests.integration.delivery.queue import insert_rows, outbox, plain_row
from tests.support.clock import FixedClock

LEASE = timedelta(seconds=60)


@pytest.fixture
def send_rate() -> float:
    return 1000.0


@pytest.mark.slow
async def test_two_workers_passing_together_never_send_a_row_twice(
    db: AsyncEngine, vault: Vault, fake: FakeTwilio, make_worker: WorkerFactory, clock: FixedClock
) -> None:
    now = clock.now()
    rows = [
        plain_row(vault, at=now, body=f"notice {n}", from_number=f"+1555000{n % 5:04d}")
        for n in range(50)
    ]
    await insert_rows(db, OutboxRow, rows)
    first = await make_worker(worker_id="first")
    second = await make_worker(worker_id="second")

    for step in range(30):
        at = now + timedelta(seconds=step)
        await asyncio.gather(first.run_once(at), second.run_once(at))
        if len(fake.messages) == 50:
            break

    assert len(fake.messages) == 50
    assert fake.post_attempts == 50
    assert len({message.body for message in fake.messages}) == 50
    assert {row.state for row in (await outbox(db)).values()} == {"sent"}


async def test_two_workers_send_one_recipients_messages_in_the_order_they_were_written(
    db: AsyncEngine, vault: Vault, fake: FakeTwilio, make_worker: WorkerFactory, clock: FixedClock
) -> None:
    """A client's texts forwarded to the therapist's phone carry no time: they must arrive in
    order, whichever worker sends each."""
    now = clock.now()
    rows = [
        plain_row(vault, at=now + timedelta(milliseconds=n), body=f"forward {n}") for n in range(12)
    ]
    await insert_rows(db, OutboxRow, rows)
    # Small claims and slow answers: each worker holds some of the rows while the other
    # looks for more.
    first = await make_worker(worker_id="first", batch_size=3)
    second = await make_worker(worker_id="second", batch_size=3)
    fake.delay_next(len(rows), seconds=0.05)

    for step in range(60):
        at = now + timedelta(seconds=1 + step)
        await asyncio.gather(first.run_once(at), second.run_once(at))
        if len(fake.messages) == len(rows):
            break

    assert [message.body for message in fake.messages] == [f"forward {n}" for n in range(12)]


async def test_rows_claimed_by_a_worker_that_died_are_sent_by_another_after_the_lease(
    db: AsyncEngine, vault: Vault, fake: FakeTwilio, make_worker: WorkerFactory, clock: FixedClock
) -> None:
    now = clock.now()
    row = plain_row(vault, at=now, body="a notice")
    await insert_rows(db, OutboxRow, [row])
    [claimed] = await claim_due(db, worker_id="dead", now=now, lease=LEASE, limit=10)
    assert claimed.id == row["id"]
    survivor = await make_worker(worker_id="survivor")

    assert await survivor.run_once(now + LEASE - timedelta(seconds=1)) == 0
    assert fake.messages == []
    assert await survivor.run_once(now + LEASE + timedelta(seconds=1)) == 1

    assert len(fake.messages) == 1
    assert (await outbox(db))[row["id"]].state == "sent"


async def test_a_row_left_mid_send_by_a_dead_worker_is_reconciled_not_sent_again(
    db: AsyncEngine, vault: Vault, fake: FakeTwilio, make_worker: WorkerFactory, clock: FixedClock
) -> None:
    now = clock.now()
    row = plain_row(vault, at=now, body="a notice")
    await insert_rows(db, OutboxRow, [row])
    # The dead worker got as far as sending it to Twilio, then no further.
    await (await make_worker(worker_id="dead")).run_once(now)
    [sent] = fake.messages
    async with db.begin() as connection:
        await connection.execute(
            update(OutboxRow)
            .where(OutboxRow.id == row["id"])
            .values(
                state="sending",
                sid=None,
                sent_at=None,
                lease_until=now + LEASE,
                claimed_by="dead",
                details={"delivery": {"attempt_at": now.isoformat()}},
            )
        )
    survivor = await make_worker(worker_id="survivor")

    await survivor.run_once(now + LEASE + timedelta(seconds=1))
    await survivor.run_once(now + LEASE + timedelta(minutes=1))

    assert fake.post_attempts == 1
    stored = (await outbox(db))[row["id"]]
    assert (stored.state, stored.sid) == ("sent", sent.sid)


async def test_stopping_gives_back_claimed_rows_that_were_not_sent(
    db: AsyncEngine, vault: Vault, fake: FakeTwilio, make_worker: WorkerFactory, clock: FixedClock
) -> None:
    now = clock.now()
    row = plain_row(vault, at=now, body="a notice")
    await insert_rows(db, OutboxRow, [row])
    worker = await make_worker(worker_id="stopping")
    await claim_due(db, worker_id="stopping", now=now, lease=LEASE, limit=10)

    await worker.stop()

    stored = (await outbox(db))[row["id"]]
    assert (stored.state, stored.claimed_by, stored.lease_until) == ("pending", None, None)
    assert fake.messages == []


async def test_a_running_worker_sends_what_is_queued_and_stops_gracefully(
    db: AsyncEngine, vault: Vault, fake: FakeTwilio, make_worker: WorkerFactory, clock: FixedClock
) -> None:
    now = clock.now()
    worker = await make_worker(poll_seconds=0.05)
    worker.start()
    try:
        await insert_rows(db, OutboxRow, [plain_row(vault, at=now, body="a notice")])
        worker.wake()
        await fake.wait_for(1)
    finally:
        await worker.stop()
    assert len(fake.messages) == 1


@pytest.mark.parametrize("send_rate", [1000.0])
async def test_rows_to_one_phone_follow_each_other_without_waiting_for_the_next_poll(
    db: AsyncEngine, vault: Vault, fake: FakeTwilio, make_worker: WorkerFactory, clock: FixedClock
) -> None:
    """Kept in order, a phone's rows are claimed one at a time; the next goes when its send
    slot allows, not a poll interval later (a backlog of forwards to one therapist)."""
    now = clock.now()
    rows = [plain_row(vault, at=now, body=f"notice {n}") for n in range(4)]
    await insert_rows(db, OutboxRow, rows)
    worker = await make_worker(poll_seconds=60)

    async def time_passes() -> None:
        for _ in range(1000):
            await asyncio.sleep(0.005)
            clock.advance(timedelta(milliseconds=5))

    ticking = asyncio.create_task(time_passes())
    worker.start()
    try:
        sent = await fake.wait_for(4)
    finally:
        await worker.stop()
        ticking.cancel()
    assert sorted(message.body for message in sent) == [f"notice {n}" for n in range(4)]


async def queue_three_numbers(db: AsyncEngine, vault: Vault, now: datetime) -> None:
    """Three due notices from three sending numbers: no send slot holds one back."""
    rows = [
        plain_row(vault, at=now, body=f"notice {n}", from_number=f"+1555000{n:04d}")
        for n in range(3)
    ]
    await insert_rows(db, OutboxRow, rows)


async def test_a_slow_batch_gives_back_what_it_cannot_send_within_half_its_lease(
    db: AsyncEngine, vault: Vault, fake: FakeTwilio, make_worker: WorkerFactory, clock: FixedClock
) -> None:
    now = clock.now()
    await queue_three_numbers(db, vault, now)
    fake.delay_next(1, seconds=0.7, record=True)
    worker = await make_worker(lease_seconds=1.0)

    assert await worker.run_once(now) == 1

    states = sorted((row.state, row.claimed_by) for row in (await outbox(db)).values())
    assert states == [("pending", None), ("pending", None), ("sent", None)]
    await worker.run_once(now + timedelta(seconds=1))
    assert len(fake.messages) == 3


async def test_slow_lookups_give_back_what_cannot_be_reconciled_within_half_the_lease(
    db: AsyncEngine, vault: Vault, fake: FakeTwilio, make_worker: WorkerFactory, clock: FixedClock
) -> None:
    now = clock.now()
    await queue_three_numbers(db, vault, now)
    fake.delay_next(3, seconds=1.0, record=True)
    hasty = TwilioRestSender(fake.account_sid, fake.auth_token, fake.url, timeout=0.3)
    await (await make_worker(sender=hasty)).run_once(now)
    assert {row.state for row in (await outbox(db)).values()} == {"unknown"}
    worker = await make_worker(lease_seconds=1.0)

    fake.delay_lookups(1, seconds=0.7)
    assert await worker.run_once(now + FIRST_CHECK) == 1

    states = sorted((row.state, row.claimed_by) for row in (await outbox(db)).values())
    assert states == [("sent", None), ("unknown", None), ("unknown", None)]
    await worker.run_once(now + FIRST_CHECK + timedelta(seconds=1))
    assert {row.state for row in (await outbox(db)).values()} == {"sent"}
    assert fake.post_attempts == 3


async def test_the_backlog_counts_rows_waiting_to_be_tried_again(
    db: AsyncEngine, vault: Vault, clock: FixedClock
) -> None:
    """Behind a Twilio outage every row waits out a retry delay, none is due this instant:
    the backlog must not read empty then."""
    now = clock.now()
    retrying = plain_row(vault, at=now - timedelta(minutes=3), body="tried once")
    retrying.update(attempts=1, due_at=now + timedelta(seconds=40))
    held = plain_row(vault, at=now, body="held to the opening", due_in=timedelta(hours=12))
    await insert_rows(db, OutboxRow, [retrying, held])
    backlog = await due_backlog(db, now)
    assert backlog.count == 1
