"""Fault and abuse tests: the real app, real processes, real databases, Twilio faked over HTTP."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Protocol

import pytest
from sqlalchemy.engine import make_url

from gateway.metrics import Metrics
from gateway.settings import Settings
from tests.conftest import AUTH_TOKEN, make_settings
from tests.fakes.twilio_api import FakeTwilio
from tests.integration.conftest import TUESDAY_10AM_NY, import_practice
from tests.support.clock import FixedClock
from tests.support.tcp_proxy import TcpProxy

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


class Switch(Protocol):
    async def cut(self) -> None: ...

    async def restore(self) -> None: ...


class _WriteLock:
    """SQLite's outage: another connection holds the write lock. Taken off the event loop,
    which must keep running meanwhile: a worker on it may be half-way through a transaction
    that it can only finish (and unlock) on that loop."""

    def __init__(self, path: str) -> None:
        self._holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)

    async def cut(self) -> None:
        await asyncio.to_thread(self._holder.execute, "BEGIN EXCLUSIVE")

    async def restore(self) -> None:
        await asyncio.to_thread(self._holder.execute, "COMMIT")

    def close(self) -> None:
        self._holder.close()


@asynccontextmanager
async def database_outage(settings: Settings) -> AsyncIterator[tuple[Settings, Switch]]:
    """Settings that reach the database through something the test can break, and its switch:
    on PostgreSQL a TCP proxy whose link is cut, on SQLite a held write lock."""
    url = make_url(settings.database_url)
    if url.get_backend_name() == "sqlite":
        lock = _WriteLock(url.database or "")
        try:
            yield settings, lock
        finally:
            lock.close()
        return
    async with TcpProxy(url.host or "127.0.0.1", url.port or 5432) as proxy:
        proxied = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
        yield settings.model_copy(update={"database_url": proxied}), proxy


def has_backlog_gauges() -> bool:
    """Whether gateway/metrics.py has the spool and outbox-age gauges yet."""
    metrics = Metrics()
    return hasattr(metrics, "spool_pending") and hasattr(metrics, "outbox_oldest_due")
