"""Twilio's REST API fails for a while (500 and 503, 429 with Retry-After, answers that never
come): every message goes out once Twilio recovers, and none goes out twice.

The worker runs in-process with time passed in, so that backoff and the reconciliation grace
period pass in a moment.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.db.engine import create_engine
from gateway.db.tables import OutboxRow
from gateway.delivery.sending import build_sender
from gateway.delivery.worker import DeliveryWorker
from gateway.metrics import Metrics
from gateway.settings import Settings
from gateway.twilio.sender import SmsSender
from gateway.vault import Vault
from tests.conftest import AUTH_TOKEN
from tests.fakes.twilio_api import FakeTwilio
from tests.integration.conftest import import_practice
from tests.integration.delivery.queue import (
    insert_rows,
    outbox,
    plain_row,
    queue_alert,
    queue_forward,
    queue_relay,
)
from tests.reliability.conftest import twilio_settings
from tests.support.clock import FixedClock

SERVER_ERRORS = 4
THROTTLED = 2
# Answers slower than the sender's timeout: whether Twilio took the message is unknown.
LOST_ANSWERS = 2  # Twilio never created these
SLOW_ANSWERS = 1  # Twilio created this one, the answer just never came
STEP = timedelta(seconds=15)
MAX_PASSES = 80  # 20 minutes of passed-in time


@dataclass(frozen=True, slots=True)
class _Parts:
    settings: Settings
    vault: Vault
    engine: AsyncEngine
    sender: SmsSender


@asynccontextmanager
async def _parts(database_url: str, tmp_path: Path, fake: FakeTwilio) -> AsyncIterator[_Parts]:
    """An imported practice, and a sender that gives up on an answer after half a second."""
    settings = twilio_settings(database_url, tmp_path, fake, GATEWAY_TWILIO_TIMEOUT=0.5)
    await import_practice(settings)
    engine = create_engine(settings.database_url)
    sender = build_sender(settings, echo=False)
    try:
        yield _Parts(settings, Vault.from_settings(settings), engine, sender)
    finally:
        await sender.close()
        await engine.dispose()


async def _send_until_all_sent(parts: _Parts, clock: FixedClock) -> None:
    """One worker's passes, STEP apart in passed-in time, until every row is sent (or
    MAX_PASSES)."""
    worker = DeliveryWorker(
        engine=parts.engine,
        vault=parts.vault,
        sender=parts.sender,
        clock=clock,
        settings=parts.settings,
        metrics=Metrics(),
    )
    for _ in range(MAX_PASSES):
        await worker.run_once(clock.now())
        if {row.state for row in (await outbox(parts.engine)).values()} == {"sent"}:
            return
        clock.advance(STEP)


@pytest.mark.slow
async def test_messages_go_out_once_each_after_twilio_recovers(
    database_url: str, tmp_path: Path, fake: FakeTwilio, clock: FixedClock
) -> None:
    async with _parts(database_url, tmp_path, fake) as parts:
        vault, engine = parts.vault, parts.engine
        now = clock.now()
        for n in range(3):
            await queue_forward(engine, vault, f"synthetic forward {n}", at=now)
        await queue_relay(engine, vault, "synthetic relay", at=now)
        await queue_alert(engine, vault, at=now)
        await insert_rows(
            engine,
            OutboxRow,
            [
                plain_row(
                    vault, at=now, body=f"synthetic notice {n}", from_number=f"+1555000{n:04d}"
                )
                for n in range(3)
            ],
        )
        rows = len(await outbox(engine))
        fake.fail_next(SERVER_ERRORS - 1, status=500)
        fake.fail_next(1, status=503)
        fake.fail_next(THROTTLED, status=429, retry_after=30)
        fake.delay_next(LOST_ANSWERS, seconds=1.0, record=False)
        fake.delay_next(SLOW_ANSWERS, seconds=1.0, record=True)

        await _send_until_all_sent(parts, clock)

        assert {row.state for row in (await outbox(engine)).values()} == {"sent"}
        sent = Counter((message.to, message.body) for message in fake.messages)
        assert len(sent) == rows
        assert set(sent.values()) == {1}
        # Each extra POST is one Twilio refused or one it never created: none was a copy.
        assert fake.post_attempts == rows + SERVER_ERRORS + THROTTLED + LOST_ANSWERS


@pytest.mark.slow
async def test_answers_lost_by_an_api_without_a_message_list_go_out_after_the_grace(
    database_url: str, tmp_path: Path, clock: FixedClock
) -> None:
    """An API that cannot list messages cannot settle an unknown outcome: its refusal counts
    as "no such message", so the rows go again after the grace instead of waiting for ever."""
    async with (
        FakeTwilio(auth_token=AUTH_TOKEN, clock=clock, lists=False) as fake,
        _parts(database_url, tmp_path, fake) as parts,
    ):
        vault, engine = parts.vault, parts.engine
        now = clock.now()
        await queue_forward(engine, vault, "synthetic forward", at=now)
        await queue_alert(engine, vault, at=now)
        fake.delay_next(2, seconds=1.0, record=False)

        await _send_until_all_sent(parts, clock)

        assert {row.state for row in (await outbox(engine)).values()} == {"sent"}
        assert Counter(message.body for message in fake.messages).most_common(1)[0][1] == 1
        assert fake.post_attempts == 4
