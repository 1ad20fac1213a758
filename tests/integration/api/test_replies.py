"""POST /api/v1/messages: a therapist's reply keeps the client's contact boundaries."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from gateway.settings import Settings
from tests.integration.api.conftest import Api, Client
from tests.integration.conftest import LEE_NUMBER, RILEY, table_rows
from tests.support.clock import FixedClock
from tests.support.twilio_client import send_sms


def at_ny(month: int, day: int, hour: int) -> datetime:
    return datetime(2026, month, day, hour, tzinfo=ZoneInfo("America/New_York")).astimezone(UTC)


async def replies_in_outbox(settings: Settings) -> list[Any]:
    return [row for row in await table_rows(settings, "outbox") if row.kind == "reply"]


async def outbound_messages(settings: Settings) -> list[Any]:
    return [row for row in await table_rows(settings, "messages") if row.direction == "outbound"]


async def test_within_hours_the_reply_is_due_now(
    lee: Api, imported: Settings, clock: FixedClock
) -> None:
    answer = await lee.post("/messages", {"client": "c1002", "body": "See you at 3."})
    assert answer.status == 201
    assert answer.json["held"] is False
    assert answer.json["status"] == "queued"
    assert answer.json["deliver_at"] is None
    assert answer.json["direction"] == "outbound"
    assert (answer.json["client"], answer.json["therapist"]) == ("c1002", "lee")
    [row] = await replies_in_outbox(imported)
    assert row.due_at == clock.at
    assert row.message_id == answer.json["id"]
    assert row.from_number == LEE_NUMBER
    assert row.state == "pending"
    [message] = await outbound_messages(imported)
    assert message.id == answer.json["id"]
    assert message.status == "queued"
    assert b"See you at 3." not in message.body_enc
    [event] = [e for e in await table_rows(imported, "audit_events") if e.action == "reply_queued"]
    assert event.subject == f"message:{answer.json['id']}"
    assert event.details["held"] is False


async def test_outside_hours_the_reply_is_held_until_the_next_opening(
    lee: Api, imported: Settings, clock: FixedClock
) -> None:
    clock.at = at_ny(12, 1, 20)  # Tuesday 8 PM: Dr. Lee opens Wednesday at 9
    answer = await lee.post("/messages", {"client": "c1002", "body": "Answering tomorrow."})
    assert answer.status == 201
    assert answer.json["held"] is True
    assert answer.json["status"] == "held"
    assert answer.json["deliver_at"] == "2026-12-02T14:00:00Z"
    [row] = await replies_in_outbox(imported)
    assert row.due_at == at_ny(12, 2, 9)
    [message] = await outbound_messages(imported)
    assert message.deliver_at == at_ny(12, 2, 9)
    assert message.status == "held"


async def test_an_empty_reason_of_a_reply_that_is_not_urgent_is_no_reason(
    lee: Api, imported: Settings
) -> None:
    """Forms and clients send every field; "" is none given, not a bad reason."""
    answer = await lee.post(
        "/messages", {"client": "c1002", "body": "See you Tuesday.", "urgent": False, "reason": ""}
    )
    assert answer.status == 201


async def test_a_client_agreement_window_lets_the_reply_go_now(
    lee: Api, imported: Settings, clock: FixedClock
) -> None:
    clock.at = at_ny(11, 30, 19)  # Monday 7 PM: Jordan's DBT coaching window
    answer = await lee.post("/messages", {"client": "c1001", "body": "Use TIPP now."})
    assert answer.json["held"] is False
    [row] = await replies_in_outbox(imported)
    assert row.due_at == clock.at


async def test_urgent_with_a_reason_goes_now_and_is_audited(
    lee: Api, imported: Settings, clock: FixedClock
) -> None:
    clock.at = at_ny(12, 1, 22)
    without = await lee.post(
        "/messages", {"client": "c1002", "body": "Please call me.", "urgent": True}
    )
    assert without.status == 400
    assert "reason" in without.json["error"]["message"]
    blank = {"client": "c1002", "body": "Please call me.", "urgent": True, "reason": " "}
    assert (await lee.post("/messages", blank)).status == 400
    answer = await lee.post(
        "/messages",
        {
            "client": "c1002",
            "body": "Please call me.",
            "urgent": True,
            "reason": "appointment moved for tomorrow 8am",
        },
    )
    assert answer.status == 201
    assert answer.json["held"] is False
    assert answer.json["urgent"] is True
    [row] = await replies_in_outbox(imported)
    assert row.due_at == clock.at
    [event] = [e for e in await table_rows(imported, "audit_events") if e.action == "reply_queued"]
    assert event.details["urgent"] is True
    assert event.details["reason"] == "appointment moved for tomorrow 8am"
    assert "Please call me" not in str(event.details)


async def test_an_opted_out_client_gets_nothing(
    gateway: Client, lee: Api, imported: Settings
) -> None:
    await send_sms(gateway, RILEY, LEE_NUMBER, "STOP")
    for urgent in (False, True):
        answer = await lee.post(
            "/messages",
            {"client": "c1002", "body": "Hello?", "urgent": urgent, "reason": "checking in"},
        )
        assert answer.status == 409
        assert answer.json["error"]["code"] == "conflict"
        assert "opted out" in answer.json["error"]["message"]
    assert await replies_in_outbox(imported) == []
    assert await outbound_messages(imported) == []


async def test_a_held_reply_is_cancelled_when_the_client_opts_out_and_stays_so(
    gateway: Client, lee: Api, imported: Settings, clock: FixedClock
) -> None:
    """An opt-in before the opening must not bring back what was written before the STOP."""
    clock.at = at_ny(12, 1, 20)
    answer = await lee.post("/messages", {"client": "c1002", "body": "Answering tomorrow."})
    assert answer.json["status"] == "held"
    await send_sms(gateway, RILEY, LEE_NUMBER, "STOP")
    await send_sms(gateway, RILEY, LEE_NUMBER, "START")

    [row] = await replies_in_outbox(imported)
    assert (row.state, row.last_error) == ("cancelled", "recipient opted out")
    [message] = await outbound_messages(imported)
    assert (message.status, message.deliver_at) == ("cancelled", None)


async def test_another_therapists_client_is_not_found(lee: Api, imported: Settings) -> None:
    for client in ("c2001", "nobody"):
        answer = await lee.post("/messages", {"client": client, "body": "Hi"})
        assert answer.status == 404
    assert await replies_in_outbox(imported) == []


async def test_no_contact_time_within_a_year_is_a_conflict_unless_urgent(
    lee: Api, imported: Settings
) -> None:
    assert (await lee.put("/therapists/lee/hours", {"hours": {}})).status == 200
    answer = await lee.post("/messages", {"client": "c1002", "body": "Hi"})
    assert answer.status == 409
    assert "within a year" in answer.json["error"]["message"]
    urgent = await lee.post(
        "/messages", {"client": "c1002", "body": "Hi", "urgent": True, "reason": "records request"}
    )
    assert urgent.status == 201


async def test_a_reply_body_is_checked(lee: Api, imported: Settings) -> None:
    for body in (
        {"client": "c1002", "body": ""},
        {"client": "c1002", "body": "x" * 1601},
        {"client": "c1002", "body": "hi", "urgent": "yes"},
        {"client": "c1002", "body": "hi\x00"},
        {"client": "c1002", "body": "hi\x85"},
        {"client": "c1002", "body": "   \n\t "},
        {"client": "c1002", "body": "\u00a0\u2003\u3000\u200b"},
        {"client": "c1002", "body": "\U0001f642" * 801},  # 1,602 UTF-16 units
        {"client": "c1002"},
        {"client": "c1002", "body": "hi", "cc": "c1001"},
        ["c1002", "hi"],
    ):
        answer = await lee.post("/messages", body)
        assert answer.status == 400, body
        assert answer.json["error"]["code"] == "invalid_input"
    assert await replies_in_outbox(imported) == []


async def test_a_reply_is_read_back_with_the_decision_that_timed_it(
    lee: Api, clock: FixedClock
) -> None:
    clock.at = at_ny(12, 1, 20)  # Tuesday 8 PM: held until Wednesday 9 AM
    held = await lee.post("/messages", {"client": "c1002", "body": "Answering tomorrow."})
    clock.at = at_ny(12, 2, 10)
    now = await lee.post("/messages", {"client": "c1002", "body": "See you at 3."})
    held_decision = (await lee.get(f"/messages/{held.json['id']}")).json["decision"]
    assert held_decision["rule"] == "reply"
    assert held_decision["reason"] == (
        "reply to client c1002: outside hours; held until tomorrow at 9:00 AM EST"
    )
    assert held_decision["details"]["held"] is True
    assert held_decision["details"]["deliver_at"] == at_ny(12, 2, 9).isoformat()
    now_decision = (await lee.get(f"/messages/{now.json['id']}")).json["decision"]
    assert now_decision["rule"] == "reply"
    assert now_decision["reason"].endswith(", sent now")
    assert now_decision["details"]["held"] is False
