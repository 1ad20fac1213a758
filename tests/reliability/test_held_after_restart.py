"""Messages held for a closed window survive restarts and go out at the window, once.

Held messages arrive through the webhook of one gateway process; that process stops, another
starts with its worker running while they are still held, and then fresh processes' workers
pass, with time passed in, before, at and after each therapist's next opening.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from gateway.app import Deps, create_app
from gateway.config_cache import ConfigCache
from gateway.db.engine import create_engine
from gateway.delivery.sending import build_sender
from gateway.delivery.worker import DeliveryWorker
from gateway.metrics import Metrics
from gateway.settings import Settings
from gateway.vault import Vault
from tests.fakes.twilio_api import FakeTwilio
from tests.integration.conftest import (
    CASEY,
    JORDAN,
    LEE_NUMBER,
    LEE_OWN_PHONE,
    RILEY,
    import_practice,
    make_app,
    table_rows,
)
from tests.reliability.conftest import twilio_settings
from tests.support.clock import FixedClock
from tests.support.twilio_client import send_sms

NEW_YORK = ZoneInfo("America/New_York")
TUESDAY_EVENING = datetime(2026, 12, 1, 20, 0, tzinfo=NEW_YORK).astimezone(UTC)
TUESDAY_NIGHT = datetime(2026, 12, 1, 23, 0, tzinfo=NEW_YORK).astimezone(UTC)
# Dr. Lee opens Wednesday 09:00 New York; Sam Okafor Thursday 10:00 Chicago (11:00 New York).
LEE_OPENS = datetime(2026, 12, 2, 9, 0, tzinfo=NEW_YORK).astimezone(UTC)
OKAFOR_OPENS = datetime(2026, 12, 3, 11, 0, tzinfo=NEW_YORK).astimezone(UTC)
OKAFOR_OWN_PHONE = "+15551230003"


@asynccontextmanager
async def restarted_worker(settings: Settings, clock: FixedClock) -> AsyncIterator[DeliveryWorker]:
    """A worker as a freshly started process builds it: its own engine, configuration and
    sender, nothing remembered from before."""
    engine = create_engine(settings.database_url)
    vault = Vault.from_settings(settings)
    config = ConfigCache(engine, vault, 60)
    sender = build_sender(settings, echo=False)
    try:
        assert await config.refresh()
        yield DeliveryWorker(
            engine=engine,
            vault=vault,
            sender=sender,
            clock=clock,
            settings=settings,
            metrics=Metrics(),
            config=config,
        )
    finally:
        await config.stop()
        await sender.close()
        await engine.dispose()


async def test_held_messages_are_delivered_at_their_window_once_across_restarts(
    database_url: str, tmp_path: Path, fake: FakeTwilio, clock: FixedClock, aiohttp_client: Any
) -> None:
    settings = twilio_settings(database_url, tmp_path, fake)
    await import_practice(settings)
    clock.at = TUESDAY_EVENING
    first = await aiohttp_client(make_app(settings, clock))
    for sender, text in (
        (RILEY, "synthetic evening thought"),
        (RILEY, "synthetic second thought"),
        (JORDAN, "synthetic question for wednesday"),
        (CASEY, "synthetic note for thursday"),
    ):
        assert (await send_sms(first, sender, LEE_NUMBER, text))[0] == 200
        clock.advance(timedelta(minutes=5))
    await first.close()
    held = [row for row in await table_rows(settings, "messages") if row.status == "held"]
    assert len(held) == 4

    # A process restarted in the night runs its worker while everything is still held.
    clock.at = TUESDAY_NIGHT
    night = await aiohttp_client(create_app(settings, Deps(clock=clock, run_worker=True)))
    await asyncio.sleep(1.0)  # a few of its worker's passes
    await night.close()
    assert fake.messages == []

    async with restarted_worker(settings, clock) as worker:
        for at in (LEE_OPENS - timedelta(hours=2), LEE_OPENS - timedelta(seconds=1)):
            await worker.run_once(at)
        assert fake.messages == []
        await worker.run_once(LEE_OPENS)
        await worker.run_once(LEE_OPENS + timedelta(seconds=2))
    at_lee_opening = list(fake.messages)
    assert sorted(message.to for message in at_lee_opening) == [LEE_OWN_PHONE, LEE_OWN_PHONE]
    # Riley's two messages ride in one digest; Jordan's goes alone.
    assert any(
        "synthetic evening thought" in message.body and "synthetic second thought" in message.body
        for message in at_lee_opening
    )

    async with restarted_worker(settings, clock) as worker:
        for at in (LEE_OPENS + timedelta(minutes=1), OKAFOR_OPENS - timedelta(seconds=1)):
            await worker.run_once(at)
        assert fake.messages == at_lee_opening
        await worker.run_once(OKAFOR_OPENS)

    async with restarted_worker(settings, clock) as worker:
        for at in (OKAFOR_OPENS + timedelta(minutes=1), OKAFOR_OPENS + timedelta(days=1)):
            await worker.run_once(at)

    assert len(fake.messages) == 3
    assert fake.messages[2].to == OKAFOR_OWN_PHONE
    assert "synthetic note" not in fake.messages[2].body  # Okafor gets notices, never content
    statuses = {row.status for row in await table_rows(settings, "messages")}
    assert "held" not in statuses
    outbox = await table_rows(settings, "outbox")
    assert {row.state for row in outbox if row.kind in ("forward", "notify")} == {"sent"}
