"""POST /twilio/status: signed, idempotent per (MessageSid, status), never backwards."""

from __future__ import annotations

from aiohttp import web
from aiohttp.test_utils import TestClient
from sqlalchemy import insert

from gateway.db.engine import create_engine
from gateway.db.tables import MessageRow, OutboxRow
from gateway.outbox import outbox_row
from gateway.settings import Settings
from gateway.status_job import FORWARD_FAILED, advances
from gateway.vault import Vault
from tests.integration.conftest import LEE_NUMBER, TUESDAY_10AM_NY, table_rows
from tests.integration.delivery.queue import inbound_message
from tests.support.twilio_client import post_signed

Client = TestClient[web.Request, web.Application]
SID = "SM" + "a" * 32


async def _sent_row(settings: Settings) -> None:
    row = outbox_row(
        Vault.from_settings(settings),
        kind="forward",
        from_number=LEE_NUMBER,
        to_number="+15551230001",
        body="hello",
        due_at=TUESDAY_10AM_NY,
        now=TUESDAY_10AM_NY,
    )
    row.update(state="sent", sid=SID)
    engine = create_engine(settings.database_url)
    async with engine.begin() as connection:
        await connection.execute(insert(OutboxRow), row)
    await engine.dispose()


async def status(client: Client, value: str, sid: str = SID) -> int:
    params = {"MessageSid": sid, "MessageStatus": value, "AccountSid": "AC" + "0" * 32}
    return (await post_signed(client, "/twilio/status", params)).status


async def test_callbacks_are_recorded_once_and_never_move_a_final_status_back(
    gateway: Client, imported: Settings
) -> None:
    await _sent_row(imported)
    assert await status(gateway, "delivered") == 204
    assert await status(gateway, "sent") == 204  # arrives late
    assert await status(gateway, "delivered") == 204  # a retry
    [row] = await table_rows(imported, "outbox")
    assert row.delivery_status == "delivered"
    events = await table_rows(imported, "status_events")
    assert sorted(event.status for event in events) == ["delivered", "sent"]


async def test_unsigned_or_incomplete_callbacks_are_refused(
    gateway: Client, imported: Settings
) -> None:
    response = await gateway.post(
        "/twilio/status", data={"MessageSid": SID, "MessageStatus": "sent"}
    )
    assert response.status == 403
    params = {"MessageSid": SID}
    assert (await post_signed(gateway, "/twilio/status", params)).status == 400
    assert await table_rows(imported, "status_events") == []


async def test_callbacks_that_are_not_twilios_shapes_are_refused(
    gateway: Client, imported: Settings
) -> None:
    """What a callback holds goes into the audit log for good: only SIDs, statuses and error
    codes shaped as Twilio's are taken, and an error code that no column holds is refused."""
    await _sent_row(imported)
    for params in (
        {"MessageSid": "Orlaith +15553917301", "MessageStatus": "delivered"},
        {"MessageSid": SID, "MessageStatus": "delivered +15553917301"},
        {"MessageSid": SID, "MessageStatus": "undelivered", "ErrorCode": "9" * 23},
        {"MessageSid": SID, "MessageStatus": "undelivered", "ErrorCode": "²"},
        {"MessageSid": SID, "MessageStatus": "undelivered", "ErrorCode": "-1"},
    ):
        answer = await post_signed(gateway, "/twilio/status", params)
        assert answer.status == 400, params
    assert await table_rows(imported, "status_events") == []
    params = {"MessageSid": SID, "MessageStatus": "undelivered", "ErrorCode": "30003"}
    assert (await post_signed(gateway, "/twilio/status", params)).status == 204
    [event] = await table_rows(imported, "status_events")
    assert event.error_code == 30003


def test_status_order() -> None:
    assert advances(None, "queued")
    assert advances("queued", "sent")
    assert not advances("sent", "queued")
    assert advances("sent", "failed")
    assert not advances("delivered", "sent")
    assert not advances("failed", "delivered")


async def test_a_forward_the_therapist_never_got_shows_on_its_message(
    gateway: Client, imported: Settings
) -> None:
    vault = Vault.from_settings(imported)
    message = inbound_message(vault, body="see you at 3", at=TUESDAY_10AM_NY)
    message["status"] = "forwarded"
    row = outbox_row(
        vault,
        kind="forward",
        from_number=LEE_NUMBER,
        to_number="+15551230001",
        body="Riley M. (#c1002): see you at 3",
        due_at=TUESDAY_10AM_NY,
        now=TUESDAY_10AM_NY,
        message_id=message["id"],
    )
    row.update(state="sent", sid=SID)
    engine = create_engine(imported.database_url)
    async with engine.begin() as connection:
        await connection.execute(insert(MessageRow), message)
        await connection.execute(insert(OutboxRow), row)
    await engine.dispose()

    assert await status(gateway, "undelivered") == 204

    [stored] = await table_rows(imported, "messages")
    assert stored.status == FORWARD_FAILED
