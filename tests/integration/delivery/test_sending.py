"""Sending outbox rows to Twilio and recording what came of each send."""

from __future__ import annotations

import asyncio
import random
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.crypto import KeyRing, new_key
from gateway.db.tables import AuditEventRow, MessageRow, OutboxRow
from gateway.delivery.recording import FIRST_CHECK, GRACE, RECHECK
from gateway.delivery.sending import build_sender
from gateway.settings import Settings
from gateway.status_job import StatusJob
from gateway.twilio.dry_run import DryRunSender
from gateway.twilio.sender import OutboundSms, SendOutcome, Sent, SmsSender, TwilioRestSender
from gateway.vault import Vault
from tests.conftest import make_settings
from tests.fakes.senders import WrappingSender
from tests.fakes.twilio_api import FakeTwilio
from tests.integration.delivery.conftest import WorkerFactory, delivery_settings
from tests.integration.delivery.queue import (
    LEE_NUMBER,
    LEE_OWN_PHONE,
    RILEY,
    audit_actions,
    inbound_message,
    insert_rows,
    message,
    opt_out,
    outbox,
    plain_row,
    queue_alert,
    queue_forward,
    queue_relay,
)
from tests.support.clock import FixedClock


async def test_an_in_hours_forward_reaches_twilio_exactly_once(
    db: AsyncEngine, vault: Vault, fake: FakeTwilio, make_worker: WorkerFactory, clock: FixedClock
) -> None:
    now = clock.now()
    message_id, outbox_id = await queue_forward(db, vault, "can we move thursday", at=now)
    worker = await make_worker()

    assert await worker.run_once(now) == 1
    assert await worker.run_once(now + timedelta(seconds=5)) == 0

    [sent] = fake.messages
    assert (sent.from_, sent.to) == (LEE_NUMBER, LEE_OWN_PHONE)
    assert "can we move thursday" in sent.body
    assert sent.status_callback == "https://gateway.example.test/twilio/status"
    row = (await outbox(db))[outbox_id]
    assert (row.state, row.sid, row.sent_at) == ("sent", sent.sid, now)
    assert (await message(db, message_id)).status == "forwarded"
    assert await audit_actions(db, f"outbox:{outbox_id}") == ["message_sent"]


async def test_a_relay_sets_the_sid_and_status_of_its_outbound_message(
    db: AsyncEngine, vault: Vault, fake: FakeTwilio, make_worker: WorkerFactory, clock: FixedClock
) -> None:
    now = clock.now()
    message_id, _ = await queue_relay(db, vault, "see you at 3", at=now)

    await (await make_worker()).run_once(now)

    [sent] = fake.messages
    assert sent.to == RILEY
    stored = await message(db, message_id)
    assert (stored.sid, stored.status) == (sent.sid, "sent")


async def test_a_relay_to_an_opted_out_client_is_cancelled_and_never_sent(
    db: AsyncEngine, vault: Vault, fake: FakeTwilio, make_worker: WorkerFactory, clock: FixedClock
) -> None:
    now = clock.now()
    await opt_out(db, vault, RILEY, now)
    message_id, outbox_id = await queue_relay(db, vault, "see you at 3", at=now)

    await (await make_worker()).run_once(now)

    assert fake.post_attempts == 0
    row = (await outbox(db))[outbox_id]
    assert (row.state, row.last_error) == ("cancelled", "recipient opted out")
    assert await audit_actions(db, f"outbox:{outbox_id}") == ["send_cancelled"]
    stored = await message(db, message_id)
    assert (stored.status, stored.deliver_at) == ("cancelled", None)


async def test_server_errors_and_throttling_are_retried_until_twilio_takes_the_message(
    db: AsyncEngine, vault: Vault, fake: FakeTwilio, make_worker: WorkerFactory, clock: FixedClock
) -> None:
    now = clock.now()
    _, outbox_id = await queue_forward(db, vault, "running late", at=now)
    fake.fail_next(1, status=500)
    fake.fail_next(1, status=429, retry_after=120)
    worker = await make_worker()

    await worker.run_once(now)
    first = (await outbox(db))[outbox_id]
    assert (first.state, first.attempts, first.last_error) == ("pending", 1, "http 500")
    assert now + timedelta(seconds=5) <= first.due_at <= now + timedelta(seconds=10)

    await worker.run_once(first.due_at)
    second = (await outbox(db))[outbox_id]
    assert (second.state, second.attempts) == ("pending", 2)
    assert second.due_at >= first.due_at + timedelta(seconds=120)  # Retry-After honoured

    await worker.run_once(second.due_at - timedelta(seconds=1))
    assert fake.messages == []
    await worker.run_once(second.due_at)
    assert len(fake.messages) == 1
    assert fake.post_attempts == 3
    assert (await outbox(db))[outbox_id].state == "sent"


class _NoJitter(random.Random):
    def random(self) -> float:
        return 0.0


async def test_a_crisis_alert_goes_as_soon_as_twilio_answers_again(
    db: AsyncEngine, vault: Vault, fake: FakeTwilio, make_worker: WorkerFactory, clock: FixedClock
) -> None:
    """Twilio throttles the alert with a long Retry-After while a notice waits out its own
    delay: the alert is tried again within seconds, and the first send that goes through
    brings it forward, so that it does not trail the messages that waited with it."""
    start = clock.now()
    await insert_rows(db, OutboxRow, [plain_row(vault, at=start, body="notice")])
    worker = await make_worker(rng=_NoJitter())
    fake.fail_next(1, status=500)
    await worker.run_once(start)  # the notice: due again in 5 s
    alert = await queue_alert(
        db, vault, at=start + timedelta(seconds=1), from_number="+15550000099"
    )
    fake.fail_next(1, status=429, retry_after=600)
    await worker.run_once(start + timedelta(seconds=1))
    waiting = (await outbox(db))[alert["id"]]
    assert waiting.attempts == 1
    # Retry-After is a floor, but not ten minutes for a crisis alert: five seconds.
    assert waiting.due_at == start + timedelta(seconds=6)

    recovered = start + timedelta(seconds=5)  # the notice is due again, the alert not yet
    await worker.run_once(recovered)
    await worker.run_once(recovered)
    assert [m.body[:15] for m in fake.messages] == ["notice", "Possible crisis"]
    assert (await outbox(db))[alert["id"]].state == "sent"


async def test_an_opted_out_recipient_fails_once_and_stops_the_rest_of_its_queue(
    db: AsyncEngine, vault: Vault, fake: FakeTwilio, make_worker: WorkerFactory, clock: FixedClock
) -> None:
    now = clock.now()
    fake.opt_out(RILEY)
    _, first_id = await queue_relay(db, vault, "first reply", at=now)
    later = plain_row(
        vault, at=now, body="second reply", to=RILEY, kind="relay", due_in=timedelta(hours=1)
    )
    other = plain_row(vault, at=now, body="a notice", due_in=timedelta(hours=1))
    await insert_rows(db, OutboxRow, [later, other])
    worker = await make_worker()

    await worker.run_once(now)
    await worker.run_once(now + timedelta(hours=2))

    rows = await outbox(db)
    assert (rows[first_id].state, rows[first_id].last_error) == ("failed", "twilio 21610")
    assert (rows[later["id"]].state, rows[later["id"]].last_error) == (
        "cancelled",
        "recipient opted out",
    )
    assert rows[other["id"]].state == "sent"  # other numbers carry on
    assert fake.post_attempts == 2
    # The carrier's opt-out is recorded as the client's, as a STOP would be.
    assert await audit_actions(db, f"outbox:{first_id}") == ["send_failed", "opted_out"]
    assert await audit_actions(db, f"outbox:{later['id']}") == ["send_cancelled"]


async def test_after_twilios_opt_out_later_replies_are_cancelled_unsent_and_read_so(
    db: AsyncEngine, vault: Vault, fake: FakeTwilio, make_worker: WorkerFactory, clock: FixedClock
) -> None:
    """A 21610 stands until the client texts START: a reply written after it is not tried."""
    now = clock.now()
    fake.opt_out(RILEY)
    first_message, first_id = await queue_relay(db, vault, "first reply", at=now)
    worker = await make_worker()
    await worker.run_once(now)
    later_message, later_id = await queue_relay(db, vault, "second reply", at=now)
    await worker.run_once(now + timedelta(seconds=2))

    rows = await outbox(db)
    assert rows[first_id].state == "failed"
    assert (rows[later_id].state, rows[later_id].last_error) == (
        "cancelled",
        "recipient opted out",
    )
    assert fake.post_attempts == 1
    assert (await message(db, first_message)).status == "failed"
    assert (await message(db, later_message)).status == "cancelled"


async def test_a_send_that_timed_out_after_twilio_took_it_is_reconciled_not_repeated(
    db: AsyncEngine,
    vault: Vault,
    fake: FakeTwilio,
    make_worker: WorkerFactory,
    clock: FixedClock,
) -> None:
    now = clock.now()
    _, outbox_id = await queue_forward(db, vault, "did you get this", at=now)
    fake.delay_next(1, seconds=2.0, record=True)
    sender = TwilioRestSender(fake.account_sid, fake.auth_token, fake.url, timeout=0.3)
    worker = await make_worker(sender=sender)

    await worker.run_once(now)
    unknown = (await outbox(db))[outbox_id]
    assert unknown.state == "unknown"
    assert len(fake.messages) == 1

    for seconds in (1, 20, 60, 300):
        await worker.run_once(now + timedelta(seconds=seconds))

    [sent] = fake.messages
    assert fake.post_attempts == 1
    row = (await outbox(db))[outbox_id]
    assert (row.state, row.sid, row.sent_at) == ("sent", sent.sid, now)


async def test_an_unknown_send_that_twilio_never_got_is_sent_again_after_the_grace_period(
    db: AsyncEngine, vault: Vault, fake: FakeTwilio, make_worker: WorkerFactory, clock: FixedClock
) -> None:
    now = clock.now()
    _, outbox_id = await queue_forward(db, vault, "hello?", at=now)
    # Slow and then dropped: Twilio never creates it.
    fake.delay_next(1, seconds=2.0, record=False)
    sender = TwilioRestSender(fake.account_sid, fake.auth_token, fake.url, timeout=0.3)
    worker = await make_worker(sender=sender)

    await worker.run_once(now)
    assert (await outbox(db))[outbox_id].state == "unknown"
    at = now + FIRST_CHECK
    await worker.run_once(at)
    assert (await outbox(db))[outbox_id].state == "unknown"  # asked once: not yet
    at += RECHECK
    await worker.run_once(at)
    assert (await outbox(db))[outbox_id].state == "unknown"  # asked twice, within the grace
    at = now + GRACE + RECHECK
    await worker.run_once(at)
    assert (await outbox(db))[outbox_id].state == "pending"  # Twilio has none: safe to send
    assert fake.messages == []
    await worker.run_once(at + timedelta(seconds=1))

    [sent] = fake.messages
    row = (await outbox(db))[outbox_id]
    assert (row.state, row.sid) == ("sent", sent.sid)


async def test_a_lost_send_is_not_taken_for_a_later_identical_one(
    db: AsyncEngine, vault: Vault, fake: FakeTwilio, make_worker: WorkerFactory, clock: FixedClock
) -> None:
    """Two notices of the same text to one therapist are two messages: when the first was
    lost on the way, Twilio's copy of the second is not the first's, and both go."""
    now = clock.now()
    _, lost_id = await queue_forward(db, vault, "first", at=now, kind="notify")
    fake.delay_next(1, seconds=2.0, record=False)
    sender = TwilioRestSender(fake.account_sid, fake.auth_token, fake.url, timeout=0.3)
    worker = await make_worker(sender=sender)
    await worker.run_once(now)
    assert (await outbox(db))[lost_id].state == "unknown"
    _, second_id = await queue_forward(db, vault, "second", at=now, kind="notify")
    await worker.run_once(now + timedelta(seconds=1))
    [second] = fake.messages

    at = now + FIRST_CHECK
    for step in range(4):
        await worker.run_once(at + step * RECHECK)
    await worker.run_once(now + GRACE + 2 * RECHECK)
    await worker.run_once(now + GRACE + 2 * RECHECK + timedelta(seconds=1))

    rows = await outbox(db)
    assert rows[second_id].sid == second.sid
    assert len(fake.messages) == 2
    assert rows[lost_id].state == "sent"
    assert rows[lost_id].sid == fake.messages[1].sid != second.sid


async def test_a_status_callback_that_beats_the_send_answer_is_not_lost(
    db: AsyncEngine, vault: Vault, fake: FakeTwilio, make_worker: WorkerFactory, clock: FixedClock
) -> None:
    now = clock.now()
    _, outbox_id = await queue_forward(db, vault, "quick one", at=now)
    fake.delay_next(1, seconds=1.0, record=True)
    worker = await make_worker()

    async def deliver_early() -> None:
        [early] = await fake.wait_for(1)
        async with db.begin() as connection:
            await StatusJob(early.sid, "delivered", None, now).write(connection)

    await asyncio.gather(worker.run_once(now), deliver_early())

    assert (await outbox(db))[outbox_id].delivery_status == "delivered"


async def test_every_row_is_settled_with_an_audit_event_and_no_content(
    db: AsyncEngine, vault: Vault, fake: FakeTwilio, make_worker: WorkerFactory, clock: FixedClock
) -> None:
    now = clock.now()
    rows = [
        plain_row(vault, at=now, body=f"synthetic body {n}", from_number=f"+1555000{n:04d}")
        for n in range(3)
    ]
    await insert_rows(db, OutboxRow, rows)
    fake.fail_next(1, status=400, code=21211)

    await (await make_worker()).run_once(now)

    async with db.connect() as connection:
        events = list(
            await connection.execute(
                select(AuditEventRow).where(AuditEventRow.subject.like("outbox:%"))
            )
        )
    assert sorted(event.action for event in events) == [
        "message_sent",
        "message_sent",
        "send_failed",
    ]
    for event in events:
        assert "synthetic" not in str(event.details)
        assert "+1555" not in str(event.details)
    assert {event.details["kind"] for event in events} == {"notice"}


async def test_without_an_account_sid_the_sender_is_a_dry_run(
    database_url: str, tmp_path: Path, fake: FakeTwilio
) -> None:
    dry = build_sender(make_settings(database_url, tmp_path), echo=False)
    real = build_sender(delivery_settings(database_url, tmp_path, fake), echo=False)
    try:
        assert isinstance(dry, DryRunSender)
        assert isinstance(real, TwilioRestSender)
        outcome = await real.send(OutboundSms(LEE_NUMBER, LEE_OWN_PHONE, "a synthetic notice"))
        assert isinstance(outcome, Sent)
        assert fake.message(outcome.sid).to == LEE_OWN_PHONE
    finally:
        await dry.close()
        await real.close()


async def test_a_row_no_key_can_open_fails_without_holding_up_the_others(
    db: AsyncEngine, vault: Vault, fake: FakeTwilio, make_worker: WorkerFactory, clock: FixedClock
) -> None:
    now = clock.now()
    foreign = Vault(KeyRing.parse(new_key()), vault.index)
    unreadable = plain_row(foreign, at=now - timedelta(seconds=1), body="sealed elsewhere")
    readable = plain_row(vault, at=now, body="a notice", from_number="+15550001111")
    await insert_rows(db, OutboxRow, [unreadable, readable])

    await (await make_worker()).run_once(now)

    rows = await outbox(db)
    assert (rows[unreadable["id"]].state, rows[unreadable["id"]].last_error) == (
        "failed",
        "cannot decrypt",
    )
    assert rows[readable["id"]].state == "sent"
    assert await audit_actions(db, f"outbox:{unreadable['id']}") == ["send_failed"]


class _ClashingSender(WrappingSender):
    """Answers the message marked "clash" with the SID of a message already stored: its record
    then conflicts, as a bug could make it."""

    def __init__(self, sender: SmsSender, sid: str) -> None:
        super().__init__(sender)
        self._sid = sid

    async def send(self, sms: OutboundSms) -> SendOutcome:
        return Sent(sid=self._sid) if "clash" in sms.body else await super().send(sms)


async def test_a_row_whose_record_conflicts_does_not_hold_up_the_queue(
    db: AsyncEngine,
    vault: Vault,
    dsettings: Settings,
    make_worker: WorkerFactory,
    clock: FixedClock,
) -> None:
    now = clock.now()
    stored = inbound_message(vault, body="earlier text", at=now)
    await insert_rows(db, MessageRow, [stored])
    _, clashing_id = await queue_relay(db, vault, "clash", at=now)
    behind = plain_row(vault, at=now, body="a notice", to=LEE_OWN_PHONE)
    await insert_rows(db, OutboxRow, [behind])
    dry = build_sender(dsettings, echo=False)
    worker = await make_worker(sender=_ClashingSender(dry, stored["sid"]))

    for seconds in range(3):
        await worker.run_once(now + timedelta(seconds=seconds))

    assert (await outbox(db))[behind["id"]].state == "sent"
    assert (await outbox(db))[clashing_id].state != "sent"


async def test_a_forward_twilio_refuses_marks_its_message_and_the_audit_names_it(
    db: AsyncEngine, vault: Vault, fake: FakeTwilio, make_worker: WorkerFactory, clock: FixedClock
) -> None:
    """The therapist's phone never got it: the inbox says so instead of `queued` for ever, and
    an auditor can tell which message the failed send carried."""
    now = clock.now()
    message_id, outbox_id = await queue_forward(db, vault, "are we still on", at=now)
    fake.fail_next(1, status=400, code=21211)

    await (await make_worker()).run_once(now)

    assert (await message(db, message_id)).status == "forward_failed"
    async with db.connect() as connection:
        [failed] = await connection.execute(
            select(AuditEventRow).where(AuditEventRow.subject == f"outbox:{outbox_id}")
        )
    assert (failed.action, failed.details["message"]) == ("send_failed", message_id)
