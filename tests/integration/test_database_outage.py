"""The database goes away: crisis replies still go out, nothing is lost, nothing is doubled."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from gateway.app import Deps, create_app
from gateway.inbound import COMMIT_TIMEOUT
from gateway.settings import Settings
from gateway.spool import Spool
from gateway.status_job import StatusJob
from gateway.twilio.dry_run import DryRunSender
from gateway.twilio.sender import OutboundSms, RetryLater, SendOutcome
from gateway.vault import Vault
from tests.fakes.senders import WrappingSender
from tests.integration.conftest import (
    LEE_NUMBER,
    RILEY,
    import_practice,
    make_app,
    table_rows,
)
from tests.integration.delivery.queue import LEE_ON_CALL
from tests.support.clock import FixedClock
from tests.support.outage import database_outage
from tests.support.twilio_client import new_sid, post_signed, send_sms

CRISIS = "i want to kill myself tonight"
ORDINARY = "can we move thursday to 3pm"


async def wait_for_empty_spool(settings: Settings, seconds: float = 15) -> None:
    for _ in range(int(seconds * 10)):
        if not list(settings.spool_dir.glob("*.spool")):
            return
        await asyncio.sleep(0.1)
    raise AssertionError("the spool was not written to the database")


async def test_an_outage_answers_crisis_and_ordinary_messages_and_stores_each_once(
    settings: Settings, clock: FixedClock, aiohttp_client: Any
) -> None:
    await import_practice(settings)
    crisis_sid, ordinary_sid = new_sid(), new_sid()
    async with database_outage(settings) as (reachable, switch):
        client = await aiohttp_client(make_app(reachable, clock, commit_timeout=0.5))
        await switch.cut()
        crisis = await send_sms(client, RILEY, LEE_NUMBER, CRISIS, crisis_sid)
        ordinary = await send_sms(client, RILEY, LEE_NUMBER, ORDINARY, ordinary_sid)
        assert crisis[0] == 200
        assert "988" in crisis[1]
        assert ordinary[0] == 200
        # Twilio's retry during the outage gets the same answer.
        assert await send_sms(client, RILEY, LEE_NUMBER, CRISIS, crisis_sid) == crisis
        ready = await (await client.get("/readyz")).json()
        assert ready["ready"] is True
        spooled = list(reachable.spool_dir.glob("*.spool"))
        assert len(spooled) == 2
        assert all(CRISIS.encode() not in path.read_bytes() for path in spooled)
        await client.close()
        await switch.restore()
        restarted = await aiohttp_client(make_app(reachable, clock))
        await wait_for_empty_spool(reachable)
        await restarted.close()

    rows = await table_rows(settings, "messages")
    by_sid = {row.sid: row for row in rows}
    assert sorted(by_sid) == sorted([crisis_sid, ordinary_sid])
    assert len(rows) == 2
    vault = Vault.from_settings(settings)
    assert (
        vault.open("messages", "body", by_sid[crisis_sid].id, by_sid[crisis_sid].body_enc) == CRISIS
    )
    assert ",crisis," in by_sid[crisis_sid].flags
    alerts = [row for row in await table_rows(settings, "outbox") if row.kind == "alert"]
    assert len(alerts) == 1
    audit = [row.action for row in await table_rows(settings, "audit_events")]
    assert audit.count("message_received") == 2


async def test_a_crisis_reply_waits_less_for_the_database_than_other_messages(
    settings: Settings, clock: FixedClock, aiohttp_client: Any
) -> None:
    """With the database locked (SQLite) or cut off, the crisis reply goes from the spool
    before the wait that other messages get is over."""
    await import_practice(settings)
    async with database_outage(settings) as (reachable, switch):
        client = await aiohttp_client(make_app(reachable, clock, commit_timeout=COMMIT_TIMEOUT))
        await switch.cut()
        started = time.monotonic()
        status, twiml = await send_sms(client, RILEY, LEE_NUMBER, CRISIS)
        waited = time.monotonic() - started
        await switch.restore()
        await client.close()
    assert (status, "988" in twiml) == (200, True)
    assert waited < COMMIT_TIMEOUT


class _DownThenUp(WrappingSender):
    """Twilio's API answers 503 to the first `failures` sends, then takes every message."""

    def __init__(self, failures: int) -> None:
        super().__init__(DryRunSender())
        self._failures = failures
        self.taken: list[str] = []

    async def send(self, sms: OutboundSms) -> SendOutcome:
        if self._failures > 0:
            self._failures -= 1
            return RetryLater(reason="http 503")
        self.taken.append(sms.to_number)
        return await super().send(sms)


async def test_a_crisis_alert_twilio_refuses_for_a_while_goes_out_during_the_outage(
    settings: Settings, clock: FixedClock, aiohttp_client: Any
) -> None:
    """Twilio's API fails for longer than the first few tries, the database stays away: the
    alert is tried again every few seconds and goes out once Twilio is back, not when the
    database is; and only once, when the database returns."""
    await import_practice(settings)
    sender = _DownThenUp(failures=4)
    async with database_outage(settings) as (reachable, switch):
        # With its worker, as `gateway serve` runs by default: it settles the alert's row
        # with the direct send's SID when the row arrives, whichever copy brought it.
        app = create_app(reachable, Deps(clock=clock, commit_timeout=0.5, sender=sender))
        client = await aiohttp_client(app)
        await switch.cut()
        assert (await send_sms(client, RILEY, LEE_NUMBER, CRISIS))[0] == 200
        for _ in range(150):  # 15 s: the first tries, one wait, the try that gets through
            if sender.taken:
                break
            await asyncio.sleep(0.1)
        assert sender.taken == [LEE_ON_CALL]
        await switch.restore()
        await wait_for_empty_spool(reachable)
        for _ in range(50):
            alerts = [row for row in await table_rows(settings, "outbox") if row.kind == "alert"]
            if [row.state for row in alerts] == ["sent"]:
                break
            await asyncio.sleep(0.1)
        await client.close()
    assert sender.taken.count(LEE_ON_CALL) == 1
    [alert] = [row for row in await table_rows(settings, "outbox") if row.kind == "alert"]
    assert alert.state == "sent"


async def test_a_status_callback_during_an_outage_is_kept_and_recorded_when_it_returns(
    settings: Settings, clock: FixedClock, aiohttp_client: Any
) -> None:
    """Twilio does not send a callback again: a lost "delivered" would repeat a crisis alert."""
    await import_practice(settings)
    callback = {"MessageSid": "SM" + "5" * 32, "MessageStatus": "delivered", "ErrorCode": ""}
    async with database_outage(settings) as (reachable, switch):
        client = await aiohttp_client(make_app(reachable, clock, commit_timeout=0.5))
        await switch.cut()
        assert (await post_signed(client, "/twilio/status", callback)).status == 204
        assert (await post_signed(client, "/twilio/status", callback)).status == 204
        assert len(list(reachable.spool_dir.glob("*.status"))) == 1
        ready = await (await client.get("/readyz")).json()
        assert (ready["ready"], ready["database"]) == (True, "unavailable")
        await switch.restore()
        for _ in range(150):
            if not list(reachable.spool_dir.glob("*.status")):
                break
            await asyncio.sleep(0.1)
        await client.close()

    [event] = await table_rows(settings, "status_events")
    assert (event.sid, event.status) == (callback["MessageSid"], "delivered")


async def test_with_neither_database_nor_spool_only_crisis_messages_are_answered(
    settings: Settings, clock: FixedClock, aiohttp_client: Any
) -> None:
    await import_practice(settings)
    blocked = settings.spool_dir.parent / "not-a-folder"
    blocked.write_text("a file where the spool folder should be")
    async with database_outage(settings.model_copy(update={"spool_dir": blocked})) as (
        reachable,
        switch,
    ):
        client = await aiohttp_client(make_app(reachable, clock, commit_timeout=0.5))
        await switch.cut()
        crisis = await send_sms(client, RILEY, LEE_NUMBER, CRISIS)
        ordinary = await send_sms(client, RILEY, LEE_NUMBER, ORDINARY)
        await client.close()
        await switch.restore()
    assert crisis[0] == 200
    assert "988" in crisis[1]
    assert ordinary[0] == 503


async def test_a_gateway_restarted_during_an_outage_answers_from_its_last_configuration(
    settings: Settings, clock: FixedClock, aiohttp_client: Any
) -> None:
    await import_practice(settings)
    async with database_outage(settings) as (reachable, switch):
        first = await aiohttp_client(make_app(reachable, clock))
        await first.close()
        await switch.cut()
        restarted = await aiohttp_client(make_app(reachable, clock, commit_timeout=0.5))
        ready = await (await restarted.get("/readyz")).json()
        status, body = await send_sms(restarted, RILEY, LEE_NUMBER, CRISIS)
        await restarted.close()
        await switch.restore()
    assert ready["ready"] is True
    if reachable.database_url.startswith("postgresql"):
        # Only PostgreSQL is unreachable here; SQLite is locked for writes, readable.
        assert ready["database"] == "unavailable"
    assert status == 200
    assert "988" in body


async def test_a_first_start_during_an_outage_answers_from_the_configuration_of_the_import(
    settings: Settings, clock: FixedClock, aiohttp_client: Any
) -> None:
    """`gateway import`, then the database goes away before any `gateway serve` has run: the
    import left its configuration in the spool folder, so crisis messages get their reply and
    messages are kept, rather than every webhook answered 503."""
    async with database_outage(settings) as (reachable, switch):
        # The same database URL as the server's: a snapshot is bound to it.
        await import_practice(reachable)
        await switch.cut()
        client = await aiohttp_client(make_app(reachable, clock, commit_timeout=0.5))
        ready = await (await client.get("/readyz")).json()
        crisis = await send_sms(client, RILEY, LEE_NUMBER, CRISIS)
        ordinary = await send_sms(client, RILEY, LEE_NUMBER, ORDINARY)
        await switch.restore()
        await wait_for_empty_spool(reachable)
        await client.close()
    assert (ready["ready"], ready["practice"]) == (True, True)
    assert crisis[0] == 200
    assert "988" in crisis[1]
    assert ordinary[0] == 200
    assert len(await table_rows(settings, "messages")) == 2


async def test_a_retry_after_a_restart_during_the_outage_gets_the_spooled_answer(
    settings: Settings, clock: FixedClock, aiohttp_client: Any
) -> None:
    """Twilio sends a message again to a gateway that restarted while the database was away:
    the answer comes from the spool, byte for byte, and nothing is decided, kept or sent
    twice (a second crisis alert would read as a second crisis)."""
    await import_practice(settings)
    sender = _DownThenUp(failures=0)
    crisis_sid, ordinary_sid = new_sid(), new_sid()
    async with database_outage(settings) as (reachable, switch):
        first = await aiohttp_client(make_app(reachable, clock))
        await switch.cut()
        crisis = await send_sms(first, RILEY, LEE_NUMBER, CRISIS, crisis_sid)
        ordinary = await send_sms(first, RILEY, LEE_NUMBER, ORDINARY, ordinary_sid)
        await first.close()
        assert len(list(reachable.spool_dir.glob("*.spool"))) == 2

        restarted = await aiohttp_client(make_app(reachable, clock, sender=sender))
        assert await send_sms(restarted, RILEY, LEE_NUMBER, CRISIS, crisis_sid) == crisis
        assert await send_sms(restarted, RILEY, LEE_NUMBER, ORDINARY, ordinary_sid) == ordinary
        await asyncio.sleep(0.5)
        assert len(list(reachable.spool_dir.glob("*.spool"))) == 2
        assert sender.taken == []
        await switch.restore()
        await wait_for_empty_spool(reachable)
        await restarted.close()

    assert sorted(row.sid for row in await table_rows(settings, "messages")) == sorted(
        [crisis_sid, ordinary_sid]
    )


async def test_a_spooled_entry_the_database_refuses_is_set_aside_and_the_rest_written(
    settings: Settings, clock: FixedClock, aiohttp_client: Any
) -> None:
    """An entry no column can hold would fail every replay: it is renamed aside for an
    operator, and what waits behind it is written."""
    await import_practice(settings)
    spool = Spool(settings.spool_dir, Vault.from_settings(settings).keys)
    refused = StatusJob("SM" + "1" * 32, "undelivered", 10**30, clock.at)
    taken = StatusJob("SM" + "2" * 32, "delivered", None, clock.at)
    for job in (refused, taken):
        await spool.save_status(job)
    client = await aiohttp_client(make_app(settings, clock))
    for _ in range(150):
        if not list(settings.spool_dir.glob("*.status")):
            break
        await asyncio.sleep(0.1)
    assert (await send_sms(client, RILEY, LEE_NUMBER, ORDINARY))[0] == 200
    await client.close()

    assert len(list(settings.spool_dir.glob("*.rejected"))) == 1
    [event] = await table_rows(settings, "status_events")
    assert event.sid == taken.sid
    assert len(await table_rows(settings, "messages")) == 1
