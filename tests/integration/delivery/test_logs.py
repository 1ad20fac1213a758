"""What the worker logs names rows by id: no phone number, no text, whatever happens."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

import pytest
import structlog
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.config_cache import ConfigCache
from gateway.db.engine import create_engine
from gateway.db.tables import OutboxRow
from gateway.settings import Settings
from gateway.twilio.sender import TwilioRestSender
from gateway.vault import Vault
from tests.fakes.twilio_api import FakeTwilio
from tests.integration.delivery.conftest import WorkerFactory
from tests.integration.delivery.queue import (
    CASEY,
    CASEY_ID,
    LEE_ON_CALL,
    RILEY,
    RILEY_NAME,
    alert_row,
    insert_rows,
    opt_out,
    plain_row,
    queue_alert,
    queue_forward,
    queue_relay,
)
from tests.support.clock import FixedClock
from tests.support.outage import database_outage

SECRETS = ("+1555", "555000", "555123", "555765", "Riley", "private", RILEY_NAME)


async def test_no_phone_number_or_text_reaches_the_logs(
    db: AsyncEngine,
    vault: Vault,
    fake: FakeTwilio,
    *,
    make_worker: WorkerFactory,
    config: ConfigCache,
    clock: FixedClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    now = clock.now()
    await queue_forward(db, vault, "private first", at=now)
    await queue_forward(db, vault, "private held", at=now, deliver_at=now + timedelta(hours=1))
    await queue_forward(db, vault, "private held 2", at=now, deliver_at=now + timedelta(hours=1))
    await queue_relay(db, vault, "private reply", at=now)
    await queue_alert(db, vault, at=now, from_number="+15550001111")
    await insert_rows(
        db,
        OutboxRow,
        [
            plain_row(vault, at=now, body="private refused", to="+15550002222"),
            plain_row(vault, at=now, body="private retried", from_number="+15550003333"),
            plain_row(vault, at=now, body="private slow", from_number="+15550004444"),
        ],
    )
    await opt_out(db, vault, CASEY, now)
    await queue_relay(db, vault, "private to opted out", at=now, to=CASEY, client_id=CASEY_ID)
    fake.opt_out("+15550002222")
    fake.fail_next(1, status=500)
    sender = TwilioRestSender(fake.account_sid, fake.auth_token, fake.url, timeout=0.5)
    worker = await make_worker(config=config, sender=sender)
    # INFO, as the gateway logs: aiosqlite's DEBUG lines echo statement parameters, among
    # them the practice's own sending numbers (clients' numbers are only ever sealed).
    caplog.set_level(logging.INFO)

    with structlog.testing.capture_logs() as events:
        fake.delay_next(1, seconds=1.0, record=True)
        for seconds in (0, 1, 2, 3, 20, 60, 600, 3600, 3600 + 1200, 3600 + 2400):
            await worker.run_once(now + timedelta(seconds=seconds))
        await worker.alert_directly([alert_row(vault, at=now, message_id="1" * 32)])

    assert any(message.to == RILEY for message in fake.messages)
    assert any(message.to == LEE_ON_CALL for message in fake.messages)
    assert {event["event"] for event in events} >= {
        "outbox_sent",
        "outbox_failed",
        "outbox_retry_later",
        "outbox_cancelled",
        "outbox_outcome_unknown",
        "outbox_reconciled",
        "alert_escalated",
        "direct_alert_sent",
    }
    logged = [str(event) for event in events] + [
        record.getMessage() + str(record.args) for record in caplog.records
    ]
    for line in logged:
        for secret in SECRETS:
            assert secret not in line, line


async def test_an_outage_is_logged_once_per_lane_and_its_end_too(
    dsettings: Settings,
    db: AsyncEngine,
    vault: Vault,
    *,
    make_worker: WorkerFactory,
    clock: FixedClock,
) -> None:
    """Passes fail twice a second while the database is away: a line each would bury
    everything else in a long outage."""
    await queue_alert(db, vault, at=clock.now())
    async with database_outage(dsettings) as (reachable, switch):
        engine = create_engine(reachable.database_url)
        try:
            worker = await make_worker(engine=engine, poll_seconds=0.05)
            with structlog.testing.capture_logs() as events:
                await switch.cut()
                worker.start()
                # 6 s: on SQLite a pass waits 5 s for the write lock before it fails.
                for _ in range(60):
                    worker.wake()
                    await asyncio.sleep(0.1)
                await switch.restore()
                for _ in range(100):
                    worker.wake()
                    await asyncio.sleep(0.1)
                    names = [event["event"] for event in events]
                    if names.count("delivery_passes_resumed") == names.count(
                        "delivery_pass_failed"
                    ):
                        break
                await worker.stop()
        finally:
            await engine.dispose()

    failed = [event for event in events if event["event"] == "delivery_pass_failed"]
    resumed = [event for event in events if event["event"] == "delivery_passes_resumed"]
    assert 1 <= len(failed) <= 2  # one per lane at most
    assert len(resumed) == len(failed)
    if reachable.database_url.startswith("postgresql"):
        # Refused at once: many passes failed, each lane said so once.
        assert all(event["count"] > 10 for event in resumed)
