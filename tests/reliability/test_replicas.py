"""Two `gateway serve --no-worker` and two `gateway worker` processes on one PostgreSQL database
(issue 10: the app is safe to run as many replicas).

Signed webhooks go to both servers, each MessageSid to both at once as Twilio's retries might;
the workers send to the fake Twilio over HTTP. Each message is stored once and answered alike
by both servers, the new-contact reply goes once across them, every forward and alert is sent
exactly once, SIGTERM stops each process cleanly (the workers giving back what they had
claimed), and the audit chain verifies.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.clock import SystemClock
from gateway.db.engine import create_engine
from gateway.db.tables import MessageRow, OutboxRow
from gateway.settings import Settings
from gateway.vault import Vault
from tests.fakes.twilio_api import FakeTwilio
from tests.integration.delivery.queue import insert_rows, plain_row
from tests.reliability.conftest import (
    HARBOR_CLIENTS,
    HARBOR_STRANGER,
    KIM_NUMBER,
    KIM_ON_CALL,
    KIM_OWN_PHONE,
    eventually,
    import_always_open,
    twilio_settings,
)
from tests.support.processes import GatewayProcess, Processes, gateway_environment
from tests.support.twilio_client import sign, sms_params

CRISIS_TEXT = "i am going to kill myself tonight"
NEW_CONTACT = "Thanks for contacting Harbor Counseling"
# Slow answers from Twilio keep the workers busy with claimed rows when they are stopped.
SLOW_SENDS = 8
BACKLOG = 30

Form = dict[str, str]
Answer = tuple[int, str]


async def post_sms(session: aiohttp.ClientSession, web: GatewayProcess, params: Form) -> Answer:
    headers = {"X-Twilio-Signature": sign("/twilio/sms", params)}
    async with session.post(web.url + "/twilio/sms", data=params, headers=headers) as response:
        return response.status, await response.text()


async def rows(engine: AsyncEngine, table: Any) -> list[Any]:
    async with engine.connect() as connection:
        return list(await connection.execute(select(table)))


async def all_sent(engine: AsyncEngine, expected: int, seconds: float = 30) -> list[Any]:
    """The outbox once it holds `expected` rows, all sent: a message that a server had to
    spool (a commit slower than the webhook may wait) reaches the database a little later."""
    for _ in range(int(seconds * 10)):
        outbox = await rows(engine, OutboxRow)
        if len(outbox) >= expected and all(row.state == "sent" for row in outbox):
            return outbox
        await asyncio.sleep(0.1)
    states = Counter(row.state for row in await rows(engine, OutboxRow))
    raise AssertionError(f"the outbox was not sent within {seconds}s: {states}")


async def each_message_is_stored_once_and_answered_alike(
    engine: AsyncEngine, web_a: GatewayProcess, web_b: GatewayProcess
) -> tuple[int, int]:
    """Posts the traffic; returns how many messages were forwards-worthy and crises."""
    ordinary = [
        sms_params(client, KIM_NUMBER, f"synthetic note {n} from {index}")
        for index, client in enumerate(HARBOR_CLIENTS)
        for n in range(3)
    ]
    crises = [sms_params(HARBOR_CLIENTS[0], KIM_NUMBER, f"{CRISIS_TEXT} {n}") for n in range(2)]
    strangers = [sms_params(HARBOR_STRANGER, KIM_NUMBER, f"hello, new here {n}") for n in range(2)]
    twice = ordinary + crises
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=20)) as session:
        # Every message to both servers at once; the stranger's two to one server each.
        answers = await asyncio.gather(
            *(post_sms(session, web, params) for params in twice for web in (web_a, web_b)),
            post_sms(session, web_a, strangers[0]),
            post_sms(session, web_b, strangers[1]),
        )
        pairs = [(answers[2 * n], answers[2 * n + 1]) for n in range(len(twice))]
        # A retry later, to the other server, gets the same answer again.
        retried = await post_sms(session, web_b, ordinary[0])
    assert {status for status, _ in answers} == {200}
    assert all(first == second for first, second in pairs)
    assert retried == pairs[0][0]
    for (_, twiml), _ in pairs[len(ordinary) :]:
        assert "988" in twiml
    stranger_answers = [twiml for _, twiml in answers[2 * len(twice) :]]
    assert sum(NEW_CONTACT in twiml for twiml in stranger_answers) == 1
    stored = Counter(row.sid for row in await rows(engine, MessageRow))
    assert stored == {params["MessageSid"]: 1 for params in twice + strangers}
    return len(twice), len(crises)


async def workers_stop_mid_backlog_and_give_back_their_claims(
    settings: Settings, engine: AsyncEngine, fake: FakeTwilio, workers: list[GatewayProcess]
) -> None:
    vault = Vault.from_settings(settings)
    now = SystemClock().now() - timedelta(seconds=1)
    backlog = [
        plain_row(
            vault, at=now, body=f"synthetic notice {n}", to=KIM_OWN_PHONE, from_number=KIM_NUMBER
        )
        for n in range(BACKLOG)
    ]
    before = len(fake.messages)
    fake.delay_next(SLOW_SENDS, seconds=0.4, record=True)
    await insert_rows(engine, OutboxRow, backlog)
    await eventually(lambda: len(fake.messages) >= before + 2, "the backlog started")
    assert await asyncio.gather(*(worker.stop() for worker in workers)) == [0] * len(workers)
    left = Counter(row.state for row in await rows(engine, OutboxRow))
    assert set(left) <= {"sent", "pending"}  # nothing left claimed or mid-send
    assert left["pending"] > 0
    assert left["sent"] == len(fake.messages)
    for worker in workers:
        assert '"delivery_stopped"' in worker.logs()


@pytest.mark.slow
async def test_two_servers_and_two_workers_share_one_database_safely(
    database_url: str, tmp_path: Path, wall_clock_fake: FakeTwilio
) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("replicas share a PostgreSQL database; SQLite is single-node")
    fake = wall_clock_fake
    settings = twilio_settings(
        database_url, tmp_path, fake, GATEWAY_SEND_RATE=50, GATEWAY_CONFIG_REFRESH_SECONDS=0.5
    )
    await import_always_open(settings, tmp_path)
    engine = create_engine(settings.database_url)
    try:
        async with Processes(tmp_path, gateway_environment(settings)) as processes:
            web_a, web_b, worker_a, worker_b = await asyncio.gather(
                processes.serve("web-a"),
                processes.serve("web-b"),
                processes.worker("worker-a"),
                processes.worker("worker-b"),
            )
            messages, crises = await each_message_is_stored_once_and_answered_alike(
                engine, web_a, web_b
            )

            outbox = await all_sent(engine, messages + crises)
            sent = Counter((message.to, message.body) for message in fake.messages)
            assert set(sent.values()) == {1}
            assert len(sent) == len(outbox) == fake.post_attempts
            assert Counter(to for to, _ in sent) == {KIM_OWN_PHONE: messages, KIM_ON_CALL: crises}
            assert {row.sid for row in outbox} == {message.sid for message in fake.messages}

            await workers_stop_mid_backlog_and_give_back_their_claims(
                settings, engine, fake, [worker_a, worker_b]
            )
            # What was given back goes out once, from a worker started afterwards.
            await processes.worker("worker-c")
            await all_sent(engine, len(outbox) + BACKLOG)
            sent = Counter((message.to, message.body) for message in fake.messages)
            assert set(sent.values()) == {1}
            assert len(sent) == len(outbox) + BACKLOG

            assert list(await asyncio.gather(web_a.stop(), web_b.stop())) == [0, 0]
            verified = await processes.run("audit", "verify")
            assert verified.returncode == 0, verified.stderr
            assert "audit chain intact" in verified.stdout
            logs = processes.logs()
            for secret in ("+1555", "synthetic", CRISIS_TEXT, "Avery"):
                assert secret not in logs
    finally:
        await engine.dispose()
