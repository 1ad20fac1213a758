"""A stream of messages runs on while the database goes away and comes back.

On PostgreSQL the link to the server is cut (connections reset and refused); on SQLite another
process holds the write lock. Every message is answered as decided (crisis ones with the crisis
lines) while the database is away, Twilio's retries get the first answer, and once it is back
the running process drains its spool into the database by itself: each MessageSid stored
exactly once, with its decision and its audit entry, and each crisis alerted once.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from gateway.app import Deps, create_app
from gateway.db.engine import create_engine
from gateway.delivery.sending import build_sender
from gateway.delivery.worker import DeliveryWorker
from gateway.metrics import Metrics
from gateway.settings import Settings
from gateway.vault import Vault
from tests.conftest import make_settings
from tests.fakes.twilio_api import FakeTwilio
from tests.integration.conftest import (
    CASEY,
    JORDAN,
    LEE_NUMBER,
    RILEY,
    STRANGER,
    import_practice,
    make_app,
    table_rows,
)
from tests.integration.test_database_outage import wait_for_empty_spool
from tests.reliability.conftest import has_backlog_gauges, twilio_settings
from tests.support.clock import FixedClock
from tests.support.outage import database_outage
from tests.support.twilio_client import new_sid, send_sms

LEE_ON_CALL = "+15551230002"
CRISIS_TEXT = "i took all my pills and want to die"
LEASE = timedelta(seconds=60)  # DeliveryWorker's default lease on claimed rows
Item = tuple[str, str, str]  # sid, sender, text


def stream(count: int, start: int) -> list[Item]:
    """Every fifth message a crisis; the rest in hours (Riley, Jordan), after hours (Casey's
    therapist opens later) or from an unknown sender."""
    senders = (RILEY, JORDAN, CASEY, STRANGER)
    return [
        (new_sid(), RILEY, CRISIS_TEXT) if n % 5 == 0 else (new_sid(), senders[n % 4], f"note {n}")
        for n in range(start, start + count)
    ]


async def post_all(client: Any, items: list[Item]) -> dict[str, tuple[int, str]]:
    async with asyncio.timeout(30):
        answers = await asyncio.gather(
            *(send_sms(client, sender, LEE_NUMBER, text, sid) for sid, sender, text in items)
        )
    return {sid: answer for (sid, _, _), answer in zip(items, answers, strict=True)}


async def wait_for_settled_alerts(settings: Settings, count: int, seconds: float = 30) -> None:
    for _ in range(int(seconds * 10)):
        alerts = [row for row in await table_rows(settings, "outbox") if row.kind == "alert"]
        if len(alerts) == count and all(row.state == "sent" for row in alerts):
            return
        await asyncio.sleep(0.1)
    states = Counter(row.state for row in alerts)
    raise AssertionError(f"the alert rows were not settled: {states}")


@pytest.mark.slow
async def test_a_stream_through_an_outage_is_answered_and_stored_exactly_once(
    database_url: str, tmp_path: Path, fake: FakeTwilio, clock: FixedClock, aiohttp_client: Any
) -> None:
    settings = twilio_settings(database_url, tmp_path, fake)
    await import_practice(settings)
    before, during, after = stream(10, 0), stream(20, 10), stream(10, 30)
    answers: dict[str, tuple[int, str]] = {}
    async with database_outage(settings) as (reachable, switch):
        # As `gateway serve` runs it by default: with its delivery worker in-process.
        app = create_app(reachable, Deps(clock=clock, run_worker=True, commit_timeout=0.5))
        client = await aiohttp_client(app)
        # One at a time while the database is there: each sender's first message takes the
        # period's auto-reply before the rest arrive together (concurrent first messages race
        # for it; see test_an_answer_from_the_spool_is_the_answer_stored below).
        for item in before:
            answers |= await post_all(client, [item])
        await switch.cut()
        for wave in (during[:10], during[10:]):
            clock.advance(timedelta(seconds=20))
            answers |= await post_all(client, wave)
        # Twilio retries some during the outage: each gets its first answer again.
        retried = during[::4]
        assert await post_all(client, retried) == {sid: answers[sid] for sid, _, _ in retried}
        assert list(reachable.spool_dir.glob("*.spool"))
        await switch.restore()
        clock.advance(timedelta(seconds=20))
        answers |= await post_all(client, after)
        await wait_for_empty_spool(reachable, seconds=30)
        # A minute on, rows claimed by a pass that the outage cut short are free again.
        clock.advance(LEASE + timedelta(seconds=1))
        crisis_sids = {sid for sid, _, text in before + during + after if text == CRISIS_TEXT}
        await wait_for_settled_alerts(reachable, len(crisis_sids))
        await client.close()

    assert {status for status, _ in answers.values()} == {200}
    for sid in crisis_sids:
        assert "988" in answers[sid][1]
    messages = await table_rows(settings, "messages")
    assert Counter(row.sid for row in messages) == dict.fromkeys(answers, 1)
    for row in messages:
        assert row.twiml == answers[row.sid][1]  # stored with the answer that was given
    decided = Counter(row.message_id for row in await table_rows(settings, "decisions"))
    assert decided == {row.id: 1 for row in messages}
    received = Counter(
        row.subject
        for row in await table_rows(settings, "audit_events")
        if row.action == "message_received"
    )
    assert received == {f"message:{row.id}": 1 for row in messages}
    by_sid = {row.sid: row for row in messages}
    alerts = [row for row in await table_rows(settings, "outbox") if row.kind == "alert"]
    assert sorted(row.message_id for row in alerts) == sorted(by_sid[sid].id for sid in crisis_sids)
    # Alerted once each: those of the outage straight to Twilio, and not again from the outbox.
    assert len([message for message in fake.messages if message.to == LEE_ON_CALL]) == len(
        crisis_sids
    )
    # And each is on record as sent, the direct ones too.
    sent = {
        row.subject
        for row in await table_rows(settings, "audit_events")
        if row.action == "message_sent"
    }
    assert {f"outbox:{row.id}" for row in alerts} <= sent


async def test_with_a_separate_worker_a_crisis_during_an_outage_is_alerted_once(
    database_url: str, tmp_path: Path, fake: FakeTwilio, clock: FixedClock, aiohttp_client: Any
) -> None:
    settings = twilio_settings(database_url, tmp_path, fake)
    await import_practice(settings)
    async with database_outage(settings) as (reachable, switch):
        client = await aiohttp_client(make_app(reachable, clock, commit_timeout=0.5))
        await switch.cut()
        status, twiml = await send_sms(client, RILEY, LEE_NUMBER, CRISIS_TEXT)
        assert status == 200
        assert "988" in twiml
        await fake.wait_for(1)
        await switch.restore()
        await wait_for_empty_spool(reachable, seconds=30)
        await client.close()

    engine = create_engine(settings.database_url)
    sender = build_sender(settings, echo=False)
    try:
        worker = DeliveryWorker(
            engine=engine,
            vault=Vault.from_settings(settings),
            sender=sender,
            clock=clock,
            settings=settings,
            metrics=Metrics(),
        )
        for _ in range(3):
            clock.advance(timedelta(seconds=1))
            await worker.run_once(clock.now())
    finally:
        await sender.close()
        await engine.dispose()
    assert len([message for message in fake.messages if message.to == LEE_ON_CALL]) == 1


async def test_an_answer_from_the_spool_is_the_answer_stored(
    database_url: str, tmp_path: Path, clock: FixedClock, aiohttp_client: Any
) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("needs one replica cut off from the database while another reaches it")
    settings = make_settings(database_url, tmp_path)
    await import_practice(settings)
    sid = new_sid()
    async with database_outage(settings) as (proxied, switch):
        cut_off = await aiohttp_client(make_app(proxied, clock, commit_timeout=0.5))
        healthy = await aiohttp_client(make_app(settings, clock))
        await switch.cut()
        # Casey's therapist opens later: each replica, knowing nothing of the other, answers
        # the first message it sees from Casey in this closed period with the auto-reply.
        first = await send_sms(cut_off, CASEY, LEE_NUMBER, "synthetic first", sid)
        assert "Okafor" in (await send_sms(healthy, CASEY, LEE_NUMBER, "synthetic second"))[1]
        await switch.restore()
        await wait_for_empty_spool(proxied, seconds=30)
        await cut_off.close()
        assert "Okafor" in first[1]
        assert await send_sms(healthy, CASEY, LEE_NUMBER, "synthetic first", sid) == first


@pytest.mark.skipif(not has_backlog_gauges(), reason="gateway_spool_pending is not added yet")
async def test_the_spool_gauge_counts_what_waits_for_the_database(
    settings: Settings, clock: FixedClock, aiohttp_client: Any
) -> None:
    await import_practice(settings)

    async def spool_gauge(client: Any, expected: float) -> None:
        # The spool is looked at every two seconds.
        for _ in range(100):
            text = await (await client.get("/metrics")).text()
            if f"gateway_spool_pending {expected}" in text:
                return
            await asyncio.sleep(0.1)
        raise AssertionError(f"gateway_spool_pending never showed {expected}")

    async with database_outage(settings) as (reachable, switch):
        client = await aiohttp_client(make_app(reachable, clock, commit_timeout=0.5))
        await switch.cut()
        await post_all(client, stream(3, 1))
        await spool_gauge(client, 3.0)
        # Readiness says writes fail, though the process stays ready for webhooks.
        ready = await client.get("/readyz")
        assert ready.status == 200
        body = await ready.json()
        assert (body["spooled"], body["database"]) == (3, "unavailable")
        await switch.restore()
        await spool_gauge(client, 0.0)
        assert (await (await client.get("/readyz")).json())["spooled"] == 0
        await client.close()
