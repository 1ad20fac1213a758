"""The delivery worker against a real database and the fake Twilio over real HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.config_cache import ConfigCache
from gateway.db.engine import create_engine
from gateway.delivery.sending import build_sender
from gateway.delivery.worker import DeliveryWorker
from gateway.metrics import Metrics
from gateway.settings import Settings
from gateway.twilio.sender import SmsSender
from gateway.vault import Vault
from tests.conftest import AUTH_TOKEN, make_settings
from tests.fakes.twilio_api import FakeTwilio
from tests.integration.conftest import import_practice
from tests.support.clock import FixedClock

WorkerFactory = Callable[..., Awaitable[DeliveryWorker]]


@pytest.fixture
async def fake(clock: FixedClock) -> AsyncIterator[FakeTwilio]:
    # The fake stamps messages with the test's clock, as reconciliation compares times.
    async with FakeTwilio(auth_token=AUTH_TOKEN, clock=clock) as running:
        yield running


def delivery_settings(
    database_url: str, tmp_path: Path, fake: FakeTwilio, **overrides: object
) -> Settings:
    return make_settings(
        database_url,
        tmp_path,
        TWILIO_ACCOUNT_SID=fake.account_sid,
        GATEWAY_TWILIO_API_URL=fake.url,
        GATEWAY_TWILIO_TIMEOUT=2.0,
        **overrides,
    )


@pytest.fixture
def send_rate() -> float:
    """Messages per second per number; tests about bursts raise it."""
    return 1.0


@pytest.fixture
async def dsettings(
    database_url: str, tmp_path: Path, fake: FakeTwilio, send_rate: float
) -> Settings:
    settings = delivery_settings(database_url, tmp_path, fake, GATEWAY_SEND_RATE=send_rate)
    await import_practice(settings)
    return settings


@pytest.fixture
def vault(dsettings: Settings) -> Vault:
    return Vault.from_settings(dsettings)


@pytest.fixture
async def db(dsettings: Settings) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(dsettings.database_url)
    yield engine
    await engine.dispose()


@pytest.fixture
async def config(db: AsyncEngine, vault: Vault) -> AsyncIterator[ConfigCache]:
    cache = ConfigCache(db, vault, 60)
    assert await cache.refresh()
    yield cache
    await cache.stop()


@pytest.fixture
async def make_worker(
    dsettings: Settings, db: AsyncEngine, vault: Vault, clock: FixedClock
) -> AsyncIterator[WorkerFactory]:
    """Workers sending to the fake Twilio; their senders are closed at the end of the test."""
    senders: list[SmsSender] = []

    async def make(settings: Settings | None = None, **options: Any) -> DeliveryWorker:
        settings = settings or dsettings
        sender = options.pop("sender", None) or build_sender(settings, echo=False)
        senders.append(sender)
        return DeliveryWorker(
            engine=options.pop("engine", db),
            vault=vault,
            sender=sender,
            clock=clock,
            settings=settings,
            metrics=Metrics(),
            **options,
        )

    yield make
    for sender in senders:
        await sender.close()
