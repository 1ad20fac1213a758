"""Crisis alerts: escalated when not delivered, and sent directly while the database is away."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import datetime, timedelta

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.db.engine import create_engine
from gateway.db.tables import OutboxRow
from gateway.delivery import outcomes
from gateway.delivery.alerts import NOT_DELIVERED, REPEAT, escalation_id
from gateway.delivery.claim import claim_due
from gateway.delivery.sending import build_sender
from gateway.delivery.worker import DeliveryWorker
from gateway.inbound_job import InboundJob
from gateway.settings import Settings
from gateway.spool import settle_direct_alerts
from gateway.status_job import StatusJob
from gateway.twilio.sender import OutboundSms, SendOutcome, SmsSender, TwilioRestSender
from gateway.vault import Vault
from tests.fakes.senders import WrappingSender
from tests.fakes.twilio_api import FakeMessage, FakeTwilio
from tests.integration.delivery.conftest import WorkerFactory
from tests.integration.delivery.queue import (
    LEE_ON_CALL,
    LEE_OWN_PHONE,
    alert_row,
    audit_actions,
    insert_rows,
    outbox,
    queue_alert,
)
from tests.support.clock import FixedClock
from tests.support.outage import database_outage

MINUTE = timedelta(minutes=1)


async def alert_reported(
    db: AsyncEngine,
    vault: Vault,
    fake: FakeTwilio,
    worker: DeliveryWorker,
    *,
    now: datetime,
    status: str,
    code: int | None,
) -> FakeMessage:
    """An alert sent at `now`, and Twilio's `status` for it a minute later."""
    await queue_alert(db, vault, at=now)
    await worker.run_once(now)
    [sent] = fake.messages
    async with db.begin() as connection:
        await StatusJob(sent.sid, status, code, now + MINUTE).write(connection)
    return sent


async def test_an_undelivered_alert_is_sent_again_at_ten_minutes_and_to_the_own_phone_at_twenty(
    db: AsyncEngine, vault: Vault, fake: FakeTwilio, make_worker: WorkerFactory, clock: FixedClock
) -> None:
    now = clock.now()
    alert = await queue_alert(db, vault, at=now)
    worker = await make_worker()

    await worker.run_once(now)
    await worker.run_once(now + 10 * MINUTE - timedelta(seconds=1))
    assert [message.to for message in fake.messages] == [LEE_ON_CALL]

    await worker.run_once(now + 10 * MINUTE)
    assert [message.to for message in fake.messages] == [LEE_ON_CALL, LEE_ON_CALL]
    await worker.run_once(now + 15 * MINUTE)
    assert len(fake.messages) == 2

    await worker.run_once(now + 20 * MINUTE)
    assert [message.to for message in fake.messages] == [LEE_ON_CALL, LEE_ON_CALL, LEE_OWN_PHONE]
    first, *repeats = (message.body for message in fake.messages)
    assert repeats == [REPEAT + first] * 2

    await worker.run_once(now + 60 * MINUTE)
    assert len(fake.messages) == 3
    rows = await outbox(db)
    first = escalation_id(alert["id"], 1)
    second = escalation_id(first, 2)
    assert (rows[first].details["escalation"], rows[first].details["escalates"]) == (
        1,
        alert["id"],
    )
    assert (rows[second].details["escalation"], rows[second].details["escalates"]) == (2, first)
    assert await audit_actions(db, f"outbox:{first}") == ["alert_escalated", "message_sent"]


async def test_an_alert_reported_undelivered_goes_to_the_own_phone_at_once_and_says_why(
    db: AsyncEngine, vault: Vault, fake: FakeTwilio, make_worker: WorkerFactory, clock: FixedClock
) -> None:
    now = clock.now()
    worker = await make_worker()
    sent = await alert_reported(db, vault, fake, worker, now=now, status="undelivered", code=30003)

    await worker.run_once(now + MINUTE)
    await worker.run_once(now + MINUTE)

    assert [message.to for message in fake.messages] == [LEE_ON_CALL, LEE_OWN_PHONE]
    assert fake.messages[1].body == NOT_DELIVERED + sent.body


async def test_a_delivered_alert_is_not_escalated(
    db: AsyncEngine, vault: Vault, fake: FakeTwilio, make_worker: WorkerFactory, clock: FixedClock
) -> None:
    now = clock.now()
    worker = await make_worker()
    await alert_reported(db, vault, fake, worker, now=now, status="delivered", code=None)

    for minutes in (10, 20, 30):
        await worker.run_once(now + minutes * MINUTE)

    assert len(fake.messages) == 1


async def test_an_alert_twilio_refuses_goes_to_the_own_phone_at_once(
    db: AsyncEngine, vault: Vault, fake: FakeTwilio, make_worker: WorkerFactory, clock: FixedClock
) -> None:
    now = clock.now()
    fake.opt_out(LEE_ON_CALL)
    await queue_alert(db, vault, at=now)
    worker = await make_worker()

    await worker.run_once(now)
    await worker.run_once(now + timedelta(seconds=1))

    assert [message.to for message in fake.messages] == [LEE_OWN_PHONE]


async def test_an_alert_lost_on_the_way_is_sent_again_within_seconds(
    db: AsyncEngine, vault: Vault, fake: FakeTwilio, make_worker: WorkerFactory, clock: FixedClock
) -> None:
    """An alert whose send timed out and that Twilio never got goes again after a grace of
    seconds, not the minutes an ordinary message waits: a second alert is cheap, a late one
    is not."""
    now = clock.now()
    row = await queue_alert(db, vault, at=now)
    fake.delay_next(1, seconds=2.0, record=False)
    sender = TwilioRestSender(fake.account_sid, fake.auth_token, fake.url, timeout=0.3)
    worker = await make_worker(sender=sender)

    await worker.run_once(now)
    assert (await outbox(db))[row["id"]].state == "unknown"
    for seconds in (5, 10, 11):
        await worker.run_once(now + timedelta(seconds=seconds))

    [sent] = fake.messages
    assert sent.to == LEE_ON_CALL
    assert (await outbox(db))[row["id"]].sid == sent.sid


async def test_an_alert_sent_directly_is_not_sent_again_when_its_row_arrives(
    db: AsyncEngine, vault: Vault, fake: FakeTwilio, make_worker: WorkerFactory, clock: FixedClock
) -> None:
    now = clock.now()
    row = alert_row(vault, at=now, message_id="0" * 32)
    worker = await make_worker()

    await worker.alert_directly([row])
    [sent] = fake.messages
    assert sent.to == LEE_ON_CALL
    # The database is back and the spool is written: the same row reaches the outbox.
    await insert_rows(db, OutboxRow, [row])
    await worker.run_once(now + MINUTE)

    assert fake.post_attempts == 1
    stored = (await outbox(db))[row["id"]]
    assert (stored.state, stored.sid) == ("sent", sent.sid)


async def test_an_alert_stored_just_before_the_database_went_away_goes_out_directly(
    *,
    dsettings: Settings,
    db: AsyncEngine,
    vault: Vault,
    fake: FakeTwilio,
    make_worker: WorkerFactory,
    clock: FixedClock,
) -> None:
    """The crisis message and its alert were committed; the database went away before any
    worker claimed the alert. The on-call clinician hears of it within seconds, not when the
    database is back, and once: the worker settles the row with the direct send."""
    now = clock.now()
    async with database_outage(dsettings) as (reachable, switch):
        engine = create_engine(reachable.database_url)
        try:
            row = await queue_alert(db, vault, at=now)
            await switch.cut()
            worker = await make_worker(engine=engine, poll_seconds=0.1)
            worker.start()
            worker.alerts_stored([row])
            for _ in range(100):  # 10 s: the watch looks after 2 s, then every second
                if fake.messages:
                    break
                await asyncio.sleep(0.1)
            assert [message.to for message in fake.messages] == [LEE_ON_CALL]
            await switch.restore()
            for _ in range(100):
                if (await outbox(db))[row["id"]].state == "sent":
                    break
                await asyncio.sleep(0.1)
            await worker.stop()
        finally:
            await engine.dispose()

    assert fake.post_attempts == 1
    stored = (await outbox(db))[row["id"]]
    assert (stored.state, stored.sid) == ("sent", fake.messages[0].sid)


async def test_an_alert_stored_while_the_database_answers_is_left_to_the_worker(
    db: AsyncEngine, vault: Vault, fake: FakeTwilio, make_worker: WorkerFactory, clock: FixedClock
) -> None:
    """`gateway serve --no-worker`: another process's worker sends the outbox. A stored alert
    that it has not sent yet while the database answers is its to send, not this process's."""
    row = await queue_alert(db, vault, at=clock.now())
    worker = await make_worker()
    worker.alerts_stored([row])
    await asyncio.sleep(3.5)
    await worker.stop()
    assert fake.messages == []


async def test_a_direct_alert_that_twilio_refused_is_tried_again_from_the_outbox(
    db: AsyncEngine, vault: Vault, fake: FakeTwilio, make_worker: WorkerFactory, clock: FixedClock
) -> None:
    now = clock.now()
    row = alert_row(vault, at=now, message_id="0" * 32)
    worker = await make_worker()
    fake.fail_next(3, status=503, retry_after=0.01)

    await worker.alert_directly([row])
    assert fake.messages == []
    await insert_rows(db, OutboxRow, [row])
    await worker.run_once(now + MINUTE)

    assert [message.to for message in fake.messages] == [LEE_ON_CALL]


async def test_a_direct_alert_lost_on_the_way_is_sent_again_once_its_spooled_row_arrives(
    db: AsyncEngine, vault: Vault, fake: FakeTwilio, make_worker: WorkerFactory, clock: FixedClock
) -> None:
    """The direct send timed out and Twilio never got it; the spooled message reaches the
    database with the alert marked unknown. Each check moves the row's due time: the grace
    runs from the attempt, so the alert goes after seconds, not never."""
    now = clock.now()
    row = alert_row(vault, at=now, message_id="0" * 32)
    fake.delay_next(1, seconds=2.0, record=False)
    sender = TwilioRestSender(fake.account_sid, fake.auth_token, fake.url, timeout=0.3)
    worker = await make_worker(sender=sender)
    attempts = await worker.alert_directly([row])
    job = InboundJob(
        message={"id": "0" * 32},
        decision={},
        twiml="<Response/>",
        twiml_without_reply="<Response/>",
        outbox=[row],
        events=[],
    )
    settle_direct_alerts(job, attempts)
    await asyncio.sleep(2.5)  # the fake gives up on the request it never answered
    await insert_rows(db, OutboxRow, [row])
    assert (await outbox(db))[row["id"]].state == "unknown"

    for seconds in range(5, 60, 5):
        await worker.run_once(now + timedelta(seconds=seconds))
    [sent] = fake.messages
    assert sent.to == LEE_ON_CALL
    assert (await outbox(db))[row["id"]].sid == sent.sid


class _Together(WrappingSender):
    """A sender that lets sends through only once `expected` are in flight at once, and whose
    send to `broken` raises as if the connection broke after the request left."""

    def __init__(self, sender: SmsSender, expected: int, broken: str) -> None:
        super().__init__(sender)
        self._expected = expected
        self._broken = broken
        self._in_flight = 0
        self._all_in = asyncio.Event()
        self.together = False

    async def send(self, sms: OutboundSms) -> SendOutcome:
        self._in_flight += 1
        if self._in_flight == self._expected:
            self._all_in.set()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._all_in.wait(), 5)
        self.together = self._all_in.is_set()
        if self._broken in sms.body:
            raise ConnectionResetError
        return await super().send(sms)


async def test_alerts_due_together_are_sent_at_once_and_each_recorded(
    *,
    db: AsyncEngine,
    vault: Vault,
    fake: FakeTwilio,
    make_worker: WorkerFactory,
    clock: FixedClock,
    dsettings: Settings,
) -> None:
    now = clock.now()
    alerts = [await queue_alert(db, vault, at=now) for _ in range(3)]
    broken = alerts[1]["message_id"][:8]
    sender = _Together(build_sender(dsettings, echo=False), expected=3, broken=broken)
    worker = await make_worker(sender=sender)

    assert await worker.run_once(now) == 3

    assert sender.together
    assert len(fake.messages) == 2
    rows = await outbox(db)
    states = {alert["id"]: rows[alert["id"]].state for alert in alerts}
    # The send that broke may have reached Twilio: it is reconciled, not sent again blindly.
    assert states == {alerts[0]["id"]: "sent", alerts[1]["id"]: "unknown", alerts[2]["id"]: "sent"}
    for alert in (alerts[0], alerts[2]):
        assert await audit_actions(db, f"outbox:{alert['id']}") == ["message_sent"]


async def test_alerts_taken_over_by_another_worker_are_neither_marked_nor_recorded_as_ours(
    db: AsyncEngine, vault: Vault, clock: FixedClock
) -> None:
    now = clock.now()
    alerts = [await queue_alert(db, vault, at=now) for _ in range(3)]
    claims = await claim_due(db, worker_id="ours", now=now, lease=MINUTE, limit=10)
    assert len(claims) == 3
    # The third's lease ran out and another worker holds it now.
    async with db.begin() as connection:
        await connection.execute(
            update(OutboxRow)
            .where(OutboxRow.id == alerts[2]["id"])
            .values(claimed_by="theirs", state="sending")
        )
        marked = await outcomes.mark_alerts_sending(
            connection, claims, worker_id="ours", now=now, lease=MINUTE
        )
    assert marked == {alerts[0]["id"], alerts[1]["id"]}

    # Twilio's callback for the first arrived before the send's answer was written.
    delivered = "SM" + "1" * 32
    sids = {alerts[0]["id"]: delivered, alerts[1]["id"]: "SM" + "2" * 32}
    by_id = {claim.id: claim for claim in claims}
    async with db.begin() as connection:
        await StatusJob(delivered, "delivered", None, now).write(connection)
        recorded = await outcomes.record_alerts_sent(
            connection, [(by_id[row_id], sid) for row_id, sid in sids.items()], now=now
        )
    assert sorted(recorded) == sorted(alert["id"] for alert in alerts[:2])
    rows = await outbox(db)
    first = rows[alerts[0]["id"]]
    assert (first.state, first.sid, first.delivery_status) == ("sent", delivered, "delivered")
    assert rows[alerts[2]["id"]].claimed_by == "theirs"
    assert await audit_actions(db, f"outbox:{alerts[0]['id']}") == ["message_sent"]
    assert await audit_actions(db, f"outbox:{alerts[2]['id']}") == []
