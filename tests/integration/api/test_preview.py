"""POST /api/v1/preview answers exactly what the webhook then does at the same instant."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from gateway.settings import Settings
from tests.integration.api.conftest import Api, Client
from tests.integration.conftest import (
    CASEY,
    LEE_NUMBER,
    LEE_OWN_PHONE,
    RILEY,
    STRANGER,
    table_rows,
)
from tests.support.clock import FixedClock
from tests.support.twilio_client import send_sms

PREVIEW_KEYS = {
    "rule",
    "reason",
    "reply",
    "forward",
    "deliver_at",
    "alert_on_call",
    "flags",
    "open",
    "next_opening",
}


def at_ny(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 12, day, hour, minute, tzinfo=ZoneInfo("America/New_York"))


def iso_utc(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z") if moment else None


def reply_in(twiml: str) -> str | None:
    found = re.search(r"<Message>(.*)</Message>", twiml, re.DOTALL)
    return html.unescape(found[1]) if found else None


async def stored_counts(settings: Settings) -> tuple[int, ...]:
    names = ("messages", "outbox", "audit_events", "auto_replies")
    return tuple([len(await table_rows(settings, name)) for name in names])


async def preview_then_webhook(
    gateway: Client, api: Api, settings: Settings, clock: FixedClock, *, sender: str, body: str
) -> tuple[dict[str, Any], str, Any, list[Any]]:
    before = await stored_counts(settings)
    answer = await api.post(
        "/preview",
        {"from": sender, "to": LEE_NUMBER, "body": body, "at": clock.at.isoformat()},
    )
    assert answer.status == 200, answer.json
    assert set(answer.json) == PREVIEW_KEYS
    assert await stored_counts(settings) == before
    status, twiml = await send_sms(gateway, sender, LEE_NUMBER, body)
    assert status == 200
    [message] = await table_rows(settings, "messages")
    [decision] = await table_rows(settings, "decisions")
    assert answer.json["rule"] == message.rule == decision.rule
    assert answer.json["reply"] == reply_in(twiml)
    assert answer.json["deliver_at"] == iso_utc(message.deliver_at)
    assert answer.json["flags"] == [flag for flag in message.flags.split(",") if flag]
    assert answer.json["open"] == decision.details["open"]
    stored_opening = decision.details["next_opening"]
    expected_opening = iso_utc(datetime.fromisoformat(stored_opening)) if stored_opening else None
    assert answer.json["next_opening"] == expected_opening
    assert answer.json["forward"] == decision.details["forward"]
    return answer.json, twiml, message, await table_rows(settings, "outbox")


async def test_a_held_relay_previews_when_its_text_goes(
    gateway: Client, admin: Api, imported: Settings, clock: FixedClock
) -> None:
    clock.at = at_ny(1, 22)  # Tuesday 10 PM: Riley's next contact time is Wednesday 9 AM
    body = "#c1002 see you thursday"
    answer = await admin.post(
        "/preview",
        {"from": LEE_OWN_PHONE, "to": LEE_NUMBER, "body": body, "at": clock.at.isoformat()},
    )
    assert answer.json["rule"] == "relay"
    assert answer.json["deliver_at"] == iso_utc(at_ny(2, 9))
    assert (await send_sms(gateway, LEE_OWN_PHONE, LEE_NUMBER, body))[0] == 200
    [relayed] = [
        row for row in await table_rows(imported, "messages") if row.direction == "outbound"
    ]
    assert iso_utc(relayed.deliver_at) == answer.json["deliver_at"]


async def test_an_after_hours_preview_equals_the_webhook(
    gateway: Client, admin: Api, imported: Settings, clock: FixedClock
) -> None:
    clock.at = at_ny(1, 20)  # Tuesday 8 PM
    preview, _, _, outbox = await preview_then_webhook(
        gateway, admin, imported, clock, sender=RILEY, body="are we still on for thursday"
    )
    assert preview["rule"] == "closed"
    assert preview["reply"] is not None
    assert "tomorrow at 9:00 AM EST" in preview["reply"]
    assert preview["deliver_at"] == "2026-12-02T14:00:00Z"
    assert preview["next_opening"] == "2026-12-02T14:00:00Z"
    assert preview["open"] is False
    assert preview["alert_on_call"] is False
    assert preview["forward"] == "sms"
    assert preview["flags"] == ["after_hours"]
    assert not any(row.kind == "alert" for row in outbox)


async def test_a_crisis_preview_equals_the_webhook(
    gateway: Client, admin: Api, imported: Settings, clock: FixedClock
) -> None:
    clock.at = at_ny(1, 23, 30)
    preview, _, message, outbox = await preview_then_webhook(
        gateway, admin, imported, clock, sender=RILEY, body="i took 30 of my pills"
    )
    assert preview["rule"] == "crisis"
    assert preview["alert_on_call"] is True
    assert [row.kind for row in outbox if row.kind == "alert"] == ["alert"]
    assert preview["reply"] is not None
    assert "988" in preview["reply"]
    assert preview["flags"] == ["crisis", "after_hours"]
    assert preview["deliver_at"] == "2026-12-02T14:00:00Z"
    assert preview["open"] is False
    assert preview["next_opening"] == "2026-12-02T14:00:00Z"
    assert message.rule == "crisis"


async def test_an_in_hours_preview_has_no_next_opening(
    gateway: Client, lee: Api, imported: Settings, clock: FixedClock
) -> None:
    preview, *_ = await preview_then_webhook(
        gateway, lee, imported, clock, sender=RILEY, body="hello"
    )
    assert preview["rule"] == "open"
    assert preview["open"] is True
    assert preview["next_opening"] is None
    assert preview["deliver_at"] is None
    assert preview["reply"] is None


async def test_a_preview_follows_hours_changed_through_the_api(lee: Api, clock: FixedClock) -> None:
    message = {"from": RILEY, "to": LEE_NUMBER, "body": "hi", "at": clock.at.isoformat()}
    assert (await lee.post("/preview", message)).json["open"] is True
    await lee.put("/therapists/lee/hours", {"hours": {"tue": ["13:00-17:00"]}})
    answer = (await lee.post("/preview", message)).json
    assert answer["open"] is False
    assert answer["next_opening"] == "2026-12-01T18:00:00Z"
    assert "today at 1:00 PM EST" in answer["reply"]


async def test_therapists_preview_only_their_own_clients(
    admin: Api, lee: Api, okafor: Api, clock: FixedClock
) -> None:
    at = clock.at.isoformat()
    for sender in (CASEY, STRANGER, "PHARMACY"):
        message = {"from": sender, "to": LEE_NUMBER, "body": "hi", "at": at}
        assert (await lee.post("/preview", message)).status == 403, sender
    casey = {"from": CASEY, "to": LEE_NUMBER, "body": "hi", "at": at}
    assert (await okafor.post("/preview", casey)).status == 200
    stranger = {"from": STRANGER, "to": LEE_NUMBER, "body": "hi", "at": at}
    answer = await admin.post("/preview", stranger)
    assert answer.json["rule"] == "unknown_sender"
    assert answer.json["flags"] == ["unknown_sender"]


async def test_a_therapist_previews_a_relay_from_their_own_phone_only(
    lee: Api, okafor: Api, clock: FixedClock
) -> None:
    clock.at = at_ny(1, 22)
    relay = {"from": LEE_OWN_PHONE, "to": LEE_NUMBER, "body": "#c1002 see you thursday"}
    answer = await lee.post("/preview", {**relay, "at": clock.at.isoformat()})
    assert answer.status == 200
    assert answer.json["rule"] == "relay"
    assert answer.json["deliver_at"] == iso_utc(at_ny(2, 9))
    assert (await okafor.post("/preview", {**relay, "at": clock.at.isoformat()})).status == 403


async def test_a_preview_needs_an_instant_with_an_offset(admin: Api) -> None:
    base = {"from": RILEY, "to": LEE_NUMBER, "body": "hi"}
    for at in ("2026-12-01T10:00:00", "2026-12-01", "tomorrow", 1764601200, None):
        answer = await admin.post("/preview", {**base, "at": at})
        assert answer.status == 400, at
        assert answer.json["error"]["message"].startswith("at: ")
    far = await admin.post("/preview", {**base, "at": "9999-12-31T23:59:59+14:00"})
    assert far.status == 400
    assert (await admin.post("/preview", {**base, "at": "2026-12-01T10:00:00-05:00"})).status == 200
