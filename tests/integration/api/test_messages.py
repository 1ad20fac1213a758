"""Reading messages: scoped by role, paged, and every body read audited."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import update

from gateway.db.engine import create_engine
from gateway.db.tables import MessageRow
from gateway.settings import Settings
from tests.integration.api.conftest import Api, Client, Tokens
from tests.integration.conftest import (
    CASEY,
    EXAMPLE,
    JORDAN,
    LEE_NUMBER,
    LEE_OWN_PHONE,
    RILEY,
    import_practice,
    table_rows,
)
from tests.support.clock import FixedClock
from tests.support.twilio_client import send_sms


def token_id(token: str) -> str:
    return token.split("_")[1]


async def inbound(gateway: Client, sender: str, body: str) -> None:
    status, _ = await send_sms(gateway, sender, LEE_NUMBER, body)
    assert status == 200


async def some_messages(gateway: Client, clock: FixedClock) -> None:
    """Two of Dr. Lee's clients and one of Sam Okafor's, one minute apart."""
    for sender, body in [
        (RILEY, "running five minutes late"),
        (JORDAN, "see you thursday"),
        (CASEY, "can we talk about the group"),
        (CASEY, "i want to kill myself"),
    ]:
        await inbound(gateway, sender, body)
        clock.advance(timedelta(minutes=1))


async def audit_events(settings: Settings, action: str) -> list[Any]:
    return [row for row in await table_rows(settings, "audit_events") if row.action == action]


async def test_a_therapist_lists_only_their_own_messages(
    gateway: Client, clock: FixedClock, admin: Api, lee: Api, okafor: Api
) -> None:
    await some_messages(gateway, clock)
    everything = (await admin.get("/messages")).json["items"]
    assert len(everything) == 4
    lees = (await lee.get("/messages")).json["items"]
    assert {item["client"] for item in lees} == {"c1001", "c1002"}
    assert {item["therapist"] for item in lees} == {"lee"}
    okafors = (await okafor.get("/messages")).json["items"]
    assert [item["client"] for item in okafors] == ["c2001", "c2001"]


async def test_a_list_item_is_metadata_only_newest_first_in_utc(
    gateway: Client, clock: FixedClock, admin: Api
) -> None:
    await some_messages(gateway, clock)
    answer = await admin.get("/messages")
    assert answer.status == 200
    assert answer.json["next"] is None
    newest = answer.json["items"][0]
    assert set(newest) == {
        "id",
        "direction",
        "client",
        "therapist",
        "at",
        "status",
        "flags",
        "deliver_at",
    }
    assert newest["flags"] == ["crisis", "after_hours"]  # Okafor opens at 10 in Chicago
    assert newest["direction"] == "inbound"
    assert newest["at"] == "2026-12-01T15:03:00Z"
    times = [item["at"] for item in answer.json["items"]]
    assert times == sorted(times, reverse=True)
    assert "kill" not in answer.text


async def test_a_therapist_cannot_reach_another_therapists_messages_by_any_filter(
    gateway: Client, clock: FixedClock, lee: Api
) -> None:
    await some_messages(gateway, clock)
    by_therapist = await lee.get("/messages", therapist="okafor")
    assert by_therapist.status == 403
    assert by_therapist.json["error"]["code"] == "forbidden"
    assert (await lee.get("/messages", client="c2001")).status == 403
    assert (await lee.get("/messages", client="nobody")).status == 403
    crisis = await lee.get("/messages", flag="crisis")
    assert crisis.status == 200
    assert crisis.json["items"] == []
    own = await lee.get("/messages", therapist="lee", client="c1002")
    assert [item["client"] for item in own.json["items"]] == ["c1002"]


async def test_admins_filter_by_client_therapist_and_flag(
    gateway: Client, clock: FixedClock, admin: Api
) -> None:
    await some_messages(gateway, clock)
    by_client = (await admin.get("/messages", client="c2001")).json["items"]
    assert len(by_client) == 2
    by_therapist = (await admin.get("/messages", therapist="lee")).json["items"]
    assert {item["client"] for item in by_therapist} == {"c1001", "c1002"}
    by_flag = (await admin.get("/messages", flag="crisis")).json["items"]
    assert [item["client"] for item in by_flag] == ["c2001"]
    after_hours = (await admin.get("/messages", flag="after_hours")).json["items"]
    assert [item["flags"] for item in after_hours] == [["crisis", "after_hours"], ["after_hours"]]
    assert (await admin.get("/messages", flag="opt_out")).json["items"] == []


async def test_pages_follow_the_cursor_without_gaps_or_repeats(
    gateway: Client, clock: FixedClock, admin: Api
) -> None:
    for number in range(5):
        await inbound(gateway, RILEY, f"note {number}")
        if number != 2:  # two messages at the same instant: the id breaks the tie
            clock.advance(timedelta(seconds=30))
    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while pages < 10:
        params = {"limit": "2"} | ({"cursor": cursor} if cursor else {})
        answer = await admin.get("/messages", **params)
        assert answer.status == 200
        seen += [item["id"] for item in answer.json["items"]]
        pages += 1
        cursor = answer.json["next"]
        if cursor is None:
            break
    assert pages == 3
    everything = (await admin.get("/messages", limit="1000")).json["items"]
    assert seen == [item["id"] for item in everything]
    assert len(set(seen)) == 5


async def test_times_must_carry_an_offset(gateway: Client, clock: FixedClock, admin: Api) -> None:
    await some_messages(gateway, clock)
    naive = await admin.get("/messages", since="2026-12-01T10:00:00")
    assert naive.status == 400
    assert "offset" in naive.json["error"]["message"]
    assert (await admin.get("/messages", since="yesterday")).status == 400
    since = await admin.get("/messages", since="2026-12-01T10:02:00-05:00")
    assert len(since.json["items"]) == 2
    # An unencoded '+' arrives as a space; the offset still counts.
    plus = await admin.call(
        "GET", "/messages?since=2026-12-01T16:02:00+01:00&until=2026-12-01T15:03:00Z"
    )
    assert plus.status == 200
    assert len(plus.json["items"]) == 1
    backwards = await admin.get(
        "/messages", since="2026-12-02T00:00:00Z", until="2026-12-01T00:00:00Z"
    )
    assert backwards.status == 400


async def test_a_therapist_reads_a_body_and_the_read_is_audited(
    gateway: Client, clock: FixedClock, lee: Api, tokens: Tokens, imported: Settings
) -> None:
    await inbound(gateway, RILEY, "running five minutes late")
    [item] = (await lee.get("/messages")).json["items"]
    answer = await lee.get(f"/messages/{item['id']}")
    assert answer.status == 200
    assert answer.json["body"] == "running five minutes late"
    assert answer.json["purged"] is False
    assert answer.json["decision"]["rule"] == "open"
    assert "within hours" in answer.json["decision"]["reason"]
    [read] = await audit_events(imported, "message_read")
    assert read.actor == f"token:{token_id(tokens.lee)}"
    assert read.subject == f"message:{item['id']}"
    assert read.details == {"reason": None}


async def test_an_admin_must_give_a_reason_to_read_a_body(
    gateway: Client, admin: Api, tokens: Tokens, imported: Settings
) -> None:
    await inbound(gateway, RILEY, "running five minutes late")
    [item] = (await admin.get("/messages")).json["items"]
    without = await admin.get(f"/messages/{item['id']}")
    assert without.status == 400
    assert "reason" in without.json["error"]["message"]
    assert (await admin.get(f"/messages/{item['id']}", reason="   ")).status == 400
    assert await audit_events(imported, "message_read") == []
    answer = await admin.get(f"/messages/{item['id']}", reason="client asked for a copy")
    assert answer.status == 200
    assert answer.json["body"] == "running five minutes late"
    [read] = await audit_events(imported, "message_read")
    assert read.actor == f"token:{token_id(tokens.admin)}"
    assert read.details == {"reason": "client asked for a copy"}


async def test_another_therapists_message_is_not_found(
    gateway: Client, clock: FixedClock, lee: Api, okafor: Api, imported: Settings
) -> None:
    await some_messages(gateway, clock)
    okafors = (await okafor.get("/messages")).json["items"]
    for item in okafors:
        answer = await lee.get(f"/messages/{item['id']}", reason="curious")
        assert answer.status == 404
        assert answer.json["error"]["code"] == "not_found"
    assert (await lee.get("/messages/" + "f" * 32)).status == 404
    assert (await lee.get("/messages/..%2F..%2Fetc")).status == 404
    assert await audit_events(imported, "message_read") == []
    # Who tried to read another therapist's client's messages is on record; an id that names
    # nothing is not (anyone could grow the log without limit).
    denied = await audit_events(imported, "access_denied")
    assert sorted(event.subject for event in denied) == sorted(
        f"message:{item['id']}" for item in okafors
    )
    assert {event.actor for event in denied} == {f"token:{token_id(lee.token or '')}"}


async def test_a_client_moved_to_another_therapist_takes_their_messages_along(
    gateway: Client, clock: FixedClock, lee: Api, okafor: Api, *, imported: Settings, tmp_path: Path
) -> None:
    """Casey moves from Sam Okafor to Dr. Lee: she reads Casey's history, he no longer does,
    by any route."""
    await some_messages(gateway, clock)
    caseys = [item["id"] for item in (await okafor.get("/messages")).json["items"]]
    assert len(caseys) == 2
    moved = tmp_path / "practice.toml"
    example = EXAMPLE.read_text(encoding="utf-8")
    casey = 'id = "c2001"\nname = "Casey P."\nphone = "+15557654323"\ntherapist = "okafor"'
    assert casey in example
    moved.write_text(example.replace(casey, casey.replace('"okafor"', '"lee"')), "utf-8")
    await import_practice(imported, moved)

    assert (await okafor.get("/messages")).json["items"] == []
    assert (await okafor.get("/messages", client="c2001")).status == 403
    for message_id in caseys:
        assert (await okafor.get(f"/messages/{message_id}")).status == 404
        assert (await lee.get(f"/messages/{message_id}")).status == 200
    lees = (await lee.get("/messages", client="c2001")).json["items"]
    assert [item["id"] for item in lees] == caseys
    # Each message still names the therapist who had the client when it came.
    assert {item["therapist"] for item in lees} == {"okafor"}


async def test_a_purged_body_reads_as_null(
    gateway: Client, lee: Api, imported: Settings, clock: FixedClock
) -> None:
    await inbound(gateway, RILEY, "running five minutes late")
    [item] = (await lee.get("/messages")).json["items"]
    engine = create_engine(imported.database_url)
    try:
        async with engine.begin() as connection:
            await connection.execute(
                update(MessageRow).values(body_enc=None, body_purged_at=clock.at)
            )
    finally:
        await engine.dispose()
    answer = await lee.get(f"/messages/{item['id']}")
    assert answer.status == 200
    assert answer.json["body"] is None
    assert answer.json["purged"] is True
    assert answer.json["decision"]["rule"] == "open"


async def test_an_unknown_senders_message_to_a_shared_number_is_in_each_therapists_inbox(
    gateway: Client, admin: Api, lee: Api, okafor: Api
) -> None:
    await inbound(gateway, "+15559990000", "do you take new clients")
    for therapist, api in (("lee", lee), ("okafor", okafor)):
        [item] = (await api.get("/messages")).json["items"]
        assert item["client"] is None
        assert "unknown_sender" in item["flags"]
        assert (await api.get(f"/messages/{item['id']}")).status == 200
        # Filtering by therapist lists the same inbox, for the therapist and for an admin.
        for reader in (api, admin):
            filtered = await reader.get("/messages", therapist=therapist, flag="unknown_sender")
            assert [found["id"] for found in filtered.json["items"]] == [item["id"]]


async def test_a_relay_is_only_in_the_relaying_therapists_inbox(
    gateway: Client, admin: Api, lee: Api, okafor: Api
) -> None:
    """Dr. Lee's relay to her client goes through the number she shares with Sam Okafor: it
    has no client, like an unknown sender's message, but only she may see or read it."""
    status, _ = await send_sms(gateway, LEE_OWN_PHONE, LEE_NUMBER, "#c1001 see you at four")
    assert status == 200
    lees = (await lee.get("/messages")).json["items"]
    [relay] = [item for item in lees if item["direction"] == "inbound"]
    assert relay["therapist"] == "lee"
    assert relay["client"] is None
    assert (await lee.get(f"/messages/{relay['id']}")).status == 200
    [relayed] = [item for item in lees if item["direction"] == "outbound"]
    read = (await lee.get(f"/messages/{relayed['id']}")).json
    assert read["body"] == "see you at four"
    assert read["decision"]["rule"] == "relay"
    assert read["decision"]["reason"].startswith("relay to client c1001: ")
    assert read["decision"]["details"]["relayed_from"] == relay["id"]
    assert (await okafor.get("/messages")).json["items"] == []
    assert (await okafor.get(f"/messages/{relay['id']}")).status == 404
    assert (await okafor.get("/messages", therapist="okafor")).json["items"] == []
    everything = (await admin.get("/messages")).json["items"]
    assert {item["id"] for item in everything} == {item["id"] for item in lees}
