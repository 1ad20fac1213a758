"""A worker killed with SIGKILL in the middle of a batch loses nothing and sends nothing twice.

A real `gateway worker` process claims a batch and starts sending; the test kills it while the
first send is in flight (the fake Twilio holds its answer back), once where Twilio had already
taken that message and once where it never got it. The next worker then finds the rows as the
dead process left them. It runs in-process with time passed in, so that the dead worker's
leases and the reconciliation grace period run out without the test waiting minutes for them.
"""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest

from gateway.clock import SystemClock
from gateway.db.engine import create_engine
from gateway.db.tables import OutboxRow
from gateway.delivery.sending import build_sender
from gateway.delivery.worker import DeliveryWorker
from gateway.metrics import Metrics
from gateway.vault import Vault
from tests.fakes.twilio_api import FakeTwilio
from tests.integration.delivery.queue import insert_rows, outbox, plain_row
from tests.reliability.conftest import eventually, twilio_settings
from tests.support.clock import FixedClock
from tests.support.processes import Processes, gateway_environment

ROWS = 5
# Passes of the next worker, 30 s of passed-in time apart: well past the dead worker's 60 s
# lease and the two-minute reconciliation grace.
RECOVERY_PASSES = 12


@pytest.mark.slow
@pytest.mark.parametrize(
    "twilio_took_it", [True, False], ids=["twilio-took-it", "twilio-never-did"]
)
async def test_a_worker_killed_mid_send_loses_nothing_and_sends_nothing_twice(
    database_url: str, tmp_path: Path, wall_clock_fake: FakeTwilio, twilio_took_it: bool
) -> None:
    fake = wall_clock_fake
    settings = twilio_settings(database_url, tmp_path, fake, GATEWAY_SEND_RATE=100)
    vault = Vault.from_settings(settings)
    engine = create_engine(settings.database_url)
    wall = SystemClock()
    # Distinct sending numbers: none waits for another's send slot.
    rows = [
        plain_row(
            vault,
            at=wall.now() - timedelta(minutes=1),
            body=f"synthetic notice {n}",
            from_number=f"+1555000{n:04d}",
        )
        for n in range(ROWS)
    ]
    bodies = {row_body(vault, row) for row in rows}
    try:
        await insert_rows(engine, OutboxRow, rows)
        fake.delay_next(1, seconds=3, record=twilio_took_it)
        async with Processes(tmp_path, gateway_environment(settings)) as processes:
            doomed = await processes.worker("doomed")
            await eventually(lambda: fake.post_attempts >= 1, "the first send reached Twilio")
            await doomed.kill()

        left = sorted(row.state for row in (await outbox(engine)).values())
        assert left == ["claimed"] * (ROWS - 1) + ["sending"]

        clock = FixedClock(wall.now())
        sender = build_sender(settings, echo=False)
        successor = DeliveryWorker(
            engine=engine,
            vault=vault,
            sender=sender,
            clock=clock,
            settings=settings,
            metrics=Metrics(),
            worker_id="successor",
        )
        try:
            for _ in range(RECOVERY_PASSES):
                clock.advance(timedelta(seconds=30))
                await successor.run_once(clock.now())
                if Counter(message.body for message in fake.messages).keys() == bodies:
                    break
        finally:
            await sender.close()

        assert Counter(message.body for message in fake.messages) == dict.fromkeys(bodies, 1)
        # Only a message Twilio never got was posted a second time, and only after Twilio's
        # message list said twice that it did not have it.
        assert fake.post_attempts == ROWS + (0 if twilio_took_it else 1)
        final = (await outbox(engine)).values()
        assert {row.state for row in final} == {"sent"}
        assert {row.sid for row in final} == {message.sid for message in fake.messages}
    finally:
        await engine.dispose()


def row_body(vault: Vault, row: dict[str, object]) -> str:
    sealed = row["body_enc"]
    assert isinstance(sealed, bytes)
    return vault.open("outbox", "body", str(row["id"]), sealed)
