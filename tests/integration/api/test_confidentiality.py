"""Bodies, numbers and names stay sealed at rest and out of logs; the audit chain holds under
concurrent writers."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from gateway.audit.chain import verify_chain
from gateway.audit.store import iter_records
from gateway.db.engine import create_engine
from gateway.settings import Settings
from tests.integration.api.conftest import Api, Client
from tests.integration.conftest import CASEY, JORDAN, LEE_NUMBER, RILEY, STRANGER
from tests.support.twilio_client import send_sms

INBOUND_BODY = "zebra quartz 4417 marmalade lighthouse"
REPLY_BODY = "violet anchor 9023 saffron"


def database_bytes(settings: Settings) -> bytes:
    path = Path(settings.database_url.removeprefix("sqlite+aiosqlite:///"))
    files = sorted(path.parent.glob(path.name + "*"))  # the database, its WAL and shm
    assert path in files
    return b"".join(file.read_bytes() for file in files)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_a_message_body_is_not_in_the_raw_database_file(
    gateway: Client, lee: Api, admin: Api, imported: Settings
) -> None:
    assert (await send_sms(gateway, RILEY, LEE_NUMBER, INBOUND_BODY))[0] == 200
    assert (await lee.post("/messages", {"client": "c1002", "body": REPLY_BODY})).status == 201
    raw = database_bytes(imported)
    # A control: what is meant to be stored in the clear is found, WAL included.
    assert b"Lakeside Counseling" in raw
    assert b"c1002" in raw
    for secret in (INBOUND_BODY, REPLY_BODY, RILEY, RILEY.removeprefix("+"), "Riley M."):
        for encoded in (secret.encode("utf-8"), secret.encode("utf-16-le")):
            assert encoded not in raw, secret
    # The API still reads them back, through the vault.
    messages = (await admin.get("/messages")).json["items"]
    bodies = set()
    for message in messages:
        read = await admin.get(f"/messages/{message['id']}", reason="confidentiality test")
        bodies.add(read.json["body"])
    assert bodies == {INBOUND_BODY, REPLY_BODY}


async def test_api_logs_carry_ids_only(gateway: Client, lee: Api) -> None:
    with capture_logs() as logs:
        await lee.post("/messages", {"client": "c1002", "body": REPLY_BODY})
        [item] = (await lee.get("/messages")).json["items"]
        await lee.get(f"/messages/{item['id']}")
        await lee.post("/messages", {"client": "c1002", "body": REPLY_BODY, "urgent": "no"})
    text = repr(logs)
    assert "reply_queued" in text
    for secret in (REPLY_BODY, RILEY, "Riley M."):
        assert secret not in text


async def test_fifty_concurrent_webhooks_leave_an_intact_audit_chain(
    gateway: Client, admin: Api, lee: Api, imported: Settings
) -> None:
    senders = [RILEY, JORDAN, CASEY, STRANGER, "+15559990001"]

    async def webhook(number: int) -> int:
        status, _ = await send_sms(gateway, senders[number % 5], LEE_NUMBER, f"message {number}")
        return status

    async def api_write(number: int) -> int:
        day = f"2027-02-{number + 1:02d}"
        answer = await lee.post("/therapists/lee/time-off", {"start": day, "end": day})
        return answer.status

    async with asyncio.timeout(60):
        results = await asyncio.gather(
            *(webhook(number) for number in range(50)),
            *(api_write(number) for number in range(5)),
        )
    assert results == [200] * 50 + [201] * 5
    messages = (await admin.get("/messages", limit="1000")).json["items"]
    assert len(messages) == 50
    engine = create_engine(imported.database_url)
    try:
        async with engine.connect() as connection:
            records = [record async for record in iter_records(connection)]
    finally:
        await engine.dispose()
    verdict = verify_chain(records)
    assert verdict.ok, verdict.problem
    actions = [record.action for record in records]
    assert actions.count("message_received") == 50
    assert actions.count("availability_changed") == 5
