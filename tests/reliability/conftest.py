"""Fault and abuse tests: the real app, real processes, real databases, Twilio faked over HTTP."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from gateway.metrics import Metrics
from gateway.settings import Settings
from tests.conftest import AUTH_TOKEN, make_settings
from tests.fakes.twilio_api import FakeTwilio
from tests.integration.conftest import TUESDAY_10AM_NY, import_practice
from tests.support.clock import FixedClock

# A practice whose therapist is always reachable: processes that read the wall clock then
# forward at once whatever day the suite runs on.
ALWAYS_OPEN = """
[practice]
name = "Harbor Counseling"
country = "US"
timezone = "America/New_York"
new_contact_reply = "Thanks for contacting Harbor Counseling. New clients: call (555) 010-3000."
on_call = "+15551240009"

[[therapists]]
id = "kim"
name = "Dr. Mara Kim"
number = "+15550008888"
forward_to = "+15551240001"
forward = "sms"
on_call = "+15551240002"
public_holidays = false
hours.mon = ["00:00-24:00"]
hours.tue = ["00:00-24:00"]
hours.wed = ["00:00-24:00"]
hours.thu = ["00:00-24:00"]
hours.fri = ["00:00-24:00"]
hours.sat = ["00:00-24:00"]
hours.sun = ["00:00-24:00"]

[[clients]]
id = "h1"
name = "Avery Q."
phone = "+15557650001"
therapist = "kim"

[[clients]]
id = "h2"
name = "Blake R."
phone = "+15557650002"
therapist = "kim"

[[clients]]
id = "h3"
name = "Cameron S."
phone = "+15557650003"
therapist = "kim"
"""
KIM_NUMBER = "+15550008888"
KIM_OWN_PHONE = "+15551240001"
KIM_ON_CALL = "+15551240002"
HARBOR_CLIENTS = ("+15557650001", "+15557650002", "+15557650003")
HARBOR_STRANGER = "+15559990077"


async def import_always_open(settings: Settings, folder: Path) -> None:
    path = folder / "always-open.toml"
    path.write_text(ALWAYS_OPEN, encoding="utf-8")
    await import_practice(settings, path)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(TUESDAY_10AM_NY)


@pytest.fixture
async def fake(clock: FixedClock) -> AsyncIterator[FakeTwilio]:
    """Twilio stamping messages with the test's clock, for in-process workers."""
    async with FakeTwilio(auth_token=AUTH_TOKEN, clock=clock) as running:
        yield running


@pytest.fixture
async def wall_clock_fake() -> AsyncIterator[FakeTwilio]:
    """Twilio on the wall clock, for worker processes (which read the wall clock too)."""
    async with FakeTwilio(auth_token=AUTH_TOKEN) as running:
        yield running


def twilio_settings(
    database_url: str, tmp_path: Path, fake: FakeTwilio, **overrides: object
) -> Settings:
    """Settings that send to `fake` rather than dry-run."""
    values: dict[str, object] = {
        "TWILIO_ACCOUNT_SID": fake.account_sid,
        "GATEWAY_TWILIO_API_URL": fake.url,
        "GATEWAY_TWILIO_TIMEOUT": 2.0,
        **overrides,
    }
    return make_settings(database_url, tmp_path, **values)


async def eventually(
    check: Callable[[], bool],
    what: str,
    timeout: float = 30.0,  # noqa: ASYNC109 - one bound for every caller
) -> None:
    """Waits until `check()` holds, polling; fails naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout}s: {what}")
        await asyncio.sleep(0.05)


def has_backlog_gauges() -> bool:
    """Whether gateway/metrics.py has the spool and outbox-age gauges yet."""
    metrics = Metrics()
    return hasattr(metrics, "spool_pending") and hasattr(metrics, "outbox_oldest_due")
