"""POST /twilio/sms end to end: signed requests, the real app, a real database."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from twilio.request_validator import RequestValidator

from gateway.http.keys import RUNTIME
from gateway.settings import Settings
from gateway.vault import Vault
from tests.conftest import AUTH_TOKEN
from tests.integration.conftest import (
    CASEY,
    EXAMPLE,
    JORDAN,
    LEE_NUMBER,
    LEE_OWN_PHONE,
    RILEY,
    STRANGER,
    import_practice,
    make_app,
    table_rows,
)
from tests.support.clock import FixedClock
from tests.support.ports import closed_port
from tests.support.twilio_client import (
    PUBLIC_URL,
    new_sid,
    post_signed,
    send_sms,
    sign,
    sms_params,
)

Client = TestClient[web.Request, web.Application]
EMPTY = '<?xml version="1.0" encoding="UTF-8"?><Response />'
NY = "America/New_York"


def at_ny(year: int, month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=ZoneInfo(NY)).astimezone(UTC)


async def messages(settings: Settings) -> list[Any]:
    return await table_rows(settings, "messages")


async def outbox(settings: Settings) -> list[Any]:
    return await table_rows(settings, "outbox")


# Signatures -------------------------------------------------------------------------------


async def test_a_missing_signature_is_refused_and_nothing_is_stored(
    gateway: Client, imported: Settings
) -> None:
    response = await gateway.post("/twilio/sms", data=sms_params(RILEY, LEE_NUMBER, "hello"))
    assert response.status == 403
    assert await messages(imported) == []


async def test_a_forged_signature_is_refused(gateway: Client, imported: Settings) -> None:
    params = sms_params(RILEY, LEE_NUMBER, "hello")
    forged = sign("/twilio/sms", params, token="f" * 32)
    assert (await post_signed(gateway, "/twilio/sms", params, forged)).status == 403
    assert await messages(imported) == []


async def test_a_signature_over_the_url_with_its_default_port_is_accepted(
    gateway: Client, imported: Settings
) -> None:
    params = sms_params(RILEY, LEE_NUMBER, "see you tuesday")
    validator = RequestValidator(AUTH_TOKEN)
    with_port = validator.compute_signature(PUBLIC_URL + ":443/twilio/sms", params)
    assert (await post_signed(gateway, "/twilio/sms", params, with_port)).status == 200
    assert len(await messages(imported)) == 1


async def test_a_replayed_signature_on_other_content_is_refused(
    gateway: Client, imported: Settings
) -> None:
    original = sms_params(RILEY, LEE_NUMBER, "see you tuesday")
    signature = sign("/twilio/sms", original)
    tampered = {**original, "Body": "something else entirely"}
    assert (await post_signed(gateway, "/twilio/sms", tampered, signature)).status == 403
    other_path = await post_signed(gateway, "/twilio/sms?x=1", original, signature)
    assert other_path.status == 403
    assert await messages(imported) == []


async def test_the_signature_covers_the_query_string_as_received(gateway: Client) -> None:
    params = sms_params(RILEY, LEE_NUMBER, "hello")
    path = "/twilio/sms?practice=lakeside"
    response = await post_signed(gateway, path, params, sign(path, params))
    assert response.status == 200


# Idempotency ------------------------------------------------------------------------------


async def test_the_same_message_sid_three_times_gets_the_first_answer_byte_for_byte(
    gateway: Client, imported: Settings, clock: FixedClock
) -> None:
    clock.at = at_ny(2026, 12, 1, 20)  # Tuesday evening: closed, auto-reply
    sid = new_sid()
    answers = [
        await send_sms(gateway, RILEY, LEE_NUMBER, "are we still on for thursday", sid)
        for _ in range(3)
    ]
    assert answers[0][0] == 200
    assert "tomorrow at 9:00 AM EST" in answers[0][1]
    assert answers[1] == answers[0]
    assert answers[2] == answers[0]
    assert len(await messages(imported)) == 1


async def test_concurrent_copies_of_one_message_are_stored_once(
    gateway: Client, imported: Settings
) -> None:
    sid = new_sid()
    answers = await asyncio.gather(
        *(send_sms(gateway, JORDAN, LEE_NUMBER, "quick question", sid) for _ in range(3))
    )
    assert len(set(answers)) == 1
    assert len(await messages(imported)) == 1
    assert len(await outbox(imported)) == 1


async def test_two_replicas_writing_the_same_messages_in_opposite_orders_both_commit(
    imported: Settings, clock: FixedClock, aiohttp_client: Any
) -> None:
    """Each replica's group writer inserts a batch of the MessageSids the other one is
    inserting too. Neither may give up on the database and spool them."""
    replicas = [await aiohttp_client(make_app(imported, clock)) for _ in range(2)]
    for round_ in range(5):
        batch = [sms_params(client, LEE_NUMBER, f"note {round_}") for client in (JORDAN, RILEY)]
        batch += [sms_params(CASEY, LEE_NUMBER, f"note {round_}.{n}") for n in range(8)]
        answers = await asyncio.gather(
            *(post_signed(replicas[0], "/twilio/sms", params) for params in batch),
            *(post_signed(replicas[1], "/twilio/sms", params) for params in reversed(batch)),
        )
        assert {answer.status for answer in answers} == {200}
    assert list(imported.spool_dir.glob("*.spool")) == []
    assert len(await messages(imported)) == 5 * 10


async def test_a_retry_after_a_restart_gets_the_stored_answer(
    imported: Settings, clock: FixedClock, aiohttp_client: Any
) -> None:

    clock.at = at_ny(2026, 12, 1, 20)
    sid = new_sid()
    first = await aiohttp_client(make_app(imported, clock))
    answer = await send_sms(first, RILEY, LEE_NUMBER, "running late", sid)
    await first.close()
    second = await aiohttp_client(make_app(imported, clock))
    assert await send_sms(second, RILEY, LEE_NUMBER, "running late", sid) == answer
    assert len(await messages(imported)) == 1


# Contact hours ------------------------------------------------------------------------------


async def test_in_hours_the_message_is_forwarded_and_answered_with_empty_twiml(
    gateway: Client, imported: Settings
) -> None:
    status, body = await send_sms(gateway, RILEY, LEE_NUMBER, "can we move thursday to 3pm")
    assert (status, body) == (200, EMPTY)
    [message] = await messages(imported)
    assert message.rule == "open"
    assert message.client_id == "c1002"
    assert message.therapist_id == "lee"
    [row] = await outbox(imported)
    assert row.kind == "forward"  # Dr. Lee forwards as sms
    assert row.state == "pending"


async def test_outside_hours_the_auto_reply_goes_once_per_closed_period(
    gateway: Client, imported: Settings, clock: FixedClock
) -> None:
    clock.at = at_ny(2026, 12, 1, 20)
    _, first = await send_sms(gateway, RILEY, LEE_NUMBER, "hi")
    clock.advance(timedelta(minutes=30))
    _, second = await send_sms(gateway, RILEY, LEE_NUMBER, "me again")
    assert "Dr. Ana Lee" in first
    assert "tomorrow at 9:00 AM EST" in first
    assert "988" in first
    assert second == EMPTY
    stored = await messages(imported)
    assert {m.rule for m in stored} == {"closed"}
    assert all(",after_hours," in m.flags for m in stored)
    tomorrow_9 = at_ny(2026, 12, 2, 9)
    assert {m.deliver_at for m in stored} == {tomorrow_9}
    assert {row.due_at for row in await outbox(imported)} == {tomorrow_9}


async def test_a_new_closed_period_gets_a_new_auto_reply(
    gateway: Client, clock: FixedClock
) -> None:
    clock.at = at_ny(2026, 12, 1, 20)
    _, first = await send_sms(gateway, RILEY, LEE_NUMBER, "hi")
    clock.at = at_ny(2026, 12, 2, 18)  # Wednesday evening: the next period
    _, second = await send_sms(gateway, RILEY, LEE_NUMBER, "hi again")
    assert "tomorrow at 12:00 PM EST" in second
    assert first != second


async def test_time_off_closes_the_therapist_and_names_the_next_opening(
    gateway: Client, clock: FixedClock
) -> None:
    clock.at = at_ny(2026, 12, 24, 11)  # Thursday, Dr. Lee's time off
    _, body = await send_sms(gateway, RILEY, LEE_NUMBER, "merry christmas eve")
    assert "Monday at 9:00 AM EST" in body  # 25-26 off, weekend, then Monday 28th


async def test_a_client_agreement_opens_contact_outside_the_therapists_hours(
    gateway: Client, imported: Settings, clock: FixedClock
) -> None:
    clock.at = at_ny(2026, 11, 30, 19)  # Monday 7 PM: Dr. Lee closed, DBT coaching open
    status, body = await send_sms(gateway, JORDAN, LEE_NUMBER, "using my skills but need coaching")
    assert (status, body) == (200, EMPTY)
    [message] = await messages(imported)
    assert message.rule == "agreement"
    assert ",after_hours," not in message.flags


async def test_a_known_client_on_a_shared_number_reaches_their_own_therapist(
    gateway: Client, imported: Settings, clock: FixedClock
) -> None:
    clock.at = at_ny(2026, 12, 1, 10)  # Tuesday 9 AM in Chicago: Okafor opens at 10
    _, body = await send_sms(gateway, CASEY, LEE_NUMBER, "see you later")
    assert "Sam Okafor" in body
    assert "10:00 AM CST" in body
    [message] = await messages(imported)
    assert message.therapist_id == "okafor"


# Crisis -----------------------------------------------------------------------------------


async def test_a_crisis_in_hours_gets_the_crisis_lines_and_alerts_on_call(
    gateway: Client, imported: Settings
) -> None:
    _, body = await send_sms(gateway, RILEY, LEE_NUMBER, "i dont want to be alive anymore")
    assert "988" in body
    assert "741741" in body
    assert "911" in body
    [message] = await messages(imported)
    assert message.rule == "crisis"
    assert ",crisis," in message.flags
    rows = await outbox(imported)
    alerts = [row for row in rows if row.kind == "alert"]
    assert len(alerts) == 1
    assert alerts[0].priority < min(row.priority for row in rows if row.kind != "alert")


async def test_a_crisis_after_hours_is_answered_at_once_without_using_the_auto_reply(
    gateway: Client, imported: Settings, clock: FixedClock
) -> None:
    clock.at = at_ny(2026, 12, 1, 23, 30)
    _, crisis = await send_sms(gateway, RILEY, LEE_NUMBER, "i took 30 of my pills")
    _, ordinary = await send_sms(gateway, RILEY, LEE_NUMBER, "sorry about the last text")
    assert "988" in crisis
    assert "tomorrow at 9:00 AM EST" in ordinary  # the period's auto-reply is still unused
    stored = {m.rule: m for m in await messages(imported)}
    assert ",after_hours," in stored["crisis"].flags
    assert stored["crisis"].deliver_at == at_ny(2026, 12, 2, 9)
    alerts = [row for row in await outbox(imported) if row.kind == "alert"]
    assert [alert.due_at for alert in alerts] == [at_ny(2026, 12, 1, 23, 30)]


async def test_a_crisis_from_an_unknown_sender_alerts_every_therapist_on_the_number(
    gateway: Client, imported: Settings
) -> None:
    _, body = await send_sms(gateway, STRANGER, LEE_NUMBER, "i want to kill myself")
    assert "988" in body
    [message] = await messages(imported)
    assert ",unknown_sender," in message.flags
    alerts = [row for row in await outbox(imported) if row.kind == "alert"]
    assert {row.therapist_id for row in alerts} == {"lee", "okafor"}


# Whether the practice names an on-call number, and whose on-call numbers get the alert.
ON_CALL_CASES: dict[str, tuple[bool, set[str | None]]] = {
    "the practice's on-call": (True, {None}),
    "no practice on-call": (False, {"lee", "okafor"}),
}


@pytest.mark.parametrize("case", sorted(ON_CALL_CASES))
async def test_a_crisis_to_a_number_no_therapist_takes_reaches_someone(
    case: str, settings: Settings, clock: FixedClock, aiohttp_client: Any, tmp_path: Any
) -> None:
    """The practice's on-call when it has one; every therapist's on-call when it has none."""
    practice_on_call, alerted = ON_CALL_CASES[case]
    source = EXAMPLE.read_text()
    if not practice_on_call:
        source = source.replace('on_call = "+15551230009"\n', "", 1)
    practice = tmp_path / "practice.toml"
    practice.write_text(source)
    await import_practice(settings, practice)
    client = await aiohttp_client(make_app(settings, clock))
    _, body = await send_sms(client, STRANGER, "+15550001111", "i want to kill myself")
    assert "988" in body
    alerts = [row for row in await outbox(settings) if row.kind == "alert"]
    assert {row.therapist_id for row in alerts} == alerted


async def test_a_uk_practice_gets_uk_crisis_lines(
    settings: Settings, clock: FixedClock, aiohttp_client: Any, tmp_path: Any
) -> None:

    uk = tmp_path / "uk.toml"
    uk.write_text(
        EXAMPLE.read_text()
        .replace('country = "US"', 'country = "GB"')
        .replace('subdivision = "NY"\n', "")
        .replace('timezone = "America/New_York"', 'timezone = "Europe/London"')
    )
    await import_practice(settings, uk)
    client = await aiohttp_client(make_app(settings, clock))
    _, body = await send_sms(client, RILEY, LEE_NUMBER, "i want to end my life")
    assert "116 123" in body
    assert "85258" in body
    assert "988" not in body


# Keywords ---------------------------------------------------------------------------------


async def test_opt_out_is_recorded_then_only_crisis_replies_reach_the_number(
    gateway: Client, imported: Settings, clock: FixedClock
) -> None:
    clock.at = at_ny(2026, 12, 1, 20)
    assert await send_sms(gateway, RILEY, LEE_NUMBER, " Stop ") == (200, EMPTY)
    assert (await send_sms(gateway, RILEY, LEE_NUMBER, "are you there"))[1] == EMPTY
    _, crisis = await send_sms(gateway, RILEY, LEE_NUMBER, "i want to die tonight")
    assert "988" in crisis
    [opt_out] = await table_rows(imported, "opt_outs")
    assert opt_out.opted_out
    [notice] = [row for row in await outbox(imported) if row.kind == "notice"]
    # Not at 8 PM: Dr. Lee hears of it when Riley's messages would reach her.
    assert notice.due_at == at_ny(2026, 12, 2, 9)
    assert notice.details["held"] is True
    rules = sorted(m.rule for m in await messages(imported))
    assert rules == ["closed", "crisis", "opt_out"]


async def test_start_opts_back_in(gateway: Client, imported: Settings, clock: FixedClock) -> None:
    clock.at = at_ny(2026, 12, 1, 20)
    await send_sms(gateway, RILEY, LEE_NUMBER, "STOP")
    assert await send_sms(gateway, RILEY, LEE_NUMBER, "start") == (200, EMPTY)
    _, body = await send_sms(gateway, RILEY, LEE_NUMBER, "ok hi")
    assert "tomorrow at 9:00 AM EST" in body
    [opt] = await table_rows(imported, "opt_outs")
    assert not opt.opted_out


async def test_a_conversation_that_runs_past_closing_gets_the_first_auto_reply(
    gateway: Client, clock: FixedClock
) -> None:
    for minute in range(55, 60):  # Tuesday: Dr. Lee is open until 17:00
        clock.at = at_ny(2026, 12, 1, 16, minute)
        assert await send_sms(gateway, RILEY, LEE_NUMBER, f"and one more thing {minute}") == (
            200,
            EMPTY,
        )
    clock.at = at_ny(2026, 12, 1, 17, 1)
    _, body = await send_sms(gateway, RILEY, LEE_NUMBER, "sorry, last one")
    assert "tomorrow at 9:00 AM EST" in body
    _, body = await send_sms(gateway, RILEY, LEE_NUMBER, "really the last one")
    assert body == EMPTY


async def test_a_relay_right_after_the_clients_stop_is_refused_not_promised(
    gateway: Client, clock: FixedClock
) -> None:
    clock.at = at_ny(2026, 12, 1, 20)  # after hours: the relay would otherwise be held
    await send_sms(gateway, RILEY, LEE_NUMBER, "STOP")
    _, body = await send_sms(gateway, LEE_OWN_PHONE, LEE_NUMBER, "#c1002 see you Tuesday")
    assert "opted out" in body
    await send_sms(gateway, RILEY, LEE_NUMBER, "START")
    _, body = await send_sms(gateway, LEE_OWN_PHONE, LEE_NUMBER, "#c1002 see you Tuesday")
    assert "Held: #c1002" in body


async def test_help_is_answered_with_the_practice_name_and_crisis_lines(gateway: Client) -> None:
    _, body = await send_sms(gateway, RILEY, LEE_NUMBER, "HELP")
    assert "Lakeside Counseling" in body
    assert "988" in body


# Unknown senders --------------------------------------------------------------------------


async def test_an_unknown_sender_gets_the_new_contact_reply_once_a_day(
    gateway: Client, imported: Settings, clock: FixedClock
) -> None:
    _, first = await send_sms(gateway, STRANGER, LEE_NUMBER, "do you take new clients")
    _, second = await send_sms(gateway, STRANGER, LEE_NUMBER, "hello?")
    clock.advance(timedelta(days=1))
    _, next_day = await send_sms(gateway, STRANGER, LEE_NUMBER, "hello again")
    assert "(555) 010-2000" in first
    assert second == EMPTY
    assert "(555) 010-2000" in next_day
    stored = await messages(imported)
    assert all(m.rule == "unknown_sender" and ",unknown_sender," in m.flags for m in stored)
    assert await outbox(imported) == []


async def test_one_new_contact_reply_a_day_also_across_replicas(
    imported: Settings, clock: FixedClock, aiohttp_client: Any
) -> None:
    replica_a, replica_b = [await aiohttp_client(make_app(imported, clock)) for _ in range(2)]
    _, first = await send_sms(replica_a, STRANGER, LEE_NUMBER, "do you take new clients")
    # Replica B has not seen the first message: it decides to reply, and its write finds the
    # day's reply already taken.
    second_sid = new_sid()
    assert await send_sms(replica_b, STRANGER, LEE_NUMBER, "hello?", second_sid) == (200, EMPTY)
    assert await send_sms(replica_a, STRANGER, LEE_NUMBER, "hello?", second_sid) == (200, EMPTY)
    assert "(555) 010-2000" in first
    decisions = {row.message_id: row for row in await table_rows(imported, "decisions")}
    quieted = next(m for m in await messages(imported) if m.sid == second_sid)
    # The decision and its audit entry say the reply was not sent, not both.
    reason = decisions[quieted.id].reason
    assert reason.endswith("; no new-contact reply (already auto-replied in this period)")
    assert "reply sent" not in reason
    [received] = [
        event
        for event in await table_rows(imported, "audit_events")
        if event.action == "message_received" and event.subject == f"message:{quieted.id}"
    ]
    assert received.details["reason"] == reason


async def test_a_stop_taken_by_one_replica_holds_at_once_on_another(
    imported: Settings, clock: FixedClock, aiohttp_client: Any
) -> None:
    """Replica B's memory has not caught up with the STOP that replica A took: its write finds
    the opt-out and sends no reply, as the contract wants after an opt-out."""
    replica_a, replica_b = [await aiohttp_client(make_app(imported, clock)) for _ in range(2)]
    assert await send_sms(replica_a, STRANGER, LEE_NUMBER, "STOP") == (200, EMPTY)
    sid = new_sid()
    assert await send_sms(replica_b, STRANGER, LEE_NUMBER, "do you take new clients", sid) == (
        200,
        EMPTY,
    )
    decisions = {row.message_id: row for row in await table_rows(imported, "decisions")}
    quieted = next(m for m in await messages(imported) if m.sid == sid)
    assert decisions[quieted.id].reason.endswith("; no new-contact reply (sender opted out)")


async def test_a_client_in_crisis_on_a_number_no_therapist_takes_reaches_their_therapist(
    gateway: Client, imported: Settings
) -> None:
    """The number is not Dr. Lee's, so Riley is an unknown sender there; the practice's on-call
    and Dr. Lee's on-call are both alerted, and the message is in Dr. Lee's inbox."""
    _, body = await send_sms(gateway, RILEY, "+15550004444", "i want to die tonight")
    assert "988" in body
    [message] = await messages(imported)
    assert message.therapist_id == "lee"
    assert ",unknown_sender," in message.flags
    alerts = [row for row in await outbox(imported) if row.kind == "alert"]
    vault = Vault.from_settings(imported)
    assert sorted(vault.open("outbox", "to", row.id, row.to_enc) for row in alerts) == [
        "+15551230002",  # Dr. Lee's on-call
        "+15551230009",  # the practice's
    ]


async def test_a_short_code_sender_is_recorded_and_never_auto_replied(
    gateway: Client, imported: Settings
) -> None:
    assert await send_sms(gateway, "72345", LEE_NUMBER, "Your code is 1234") == (200, EMPTY)
    assert await send_sms(gateway, "PHARMACY", LEE_NUMBER, "Refill ready") == (200, EMPTY)
    # Not even to HELP or crisis words: a service could answer back, and on in a loop.
    assert await send_sms(gateway, "BANKALERT", LEE_NUMBER, "HELP") == (200, EMPTY)
    assert await send_sms(gateway, "22395", LEE_NUMBER, "i want to kill myself") == (200, EMPTY)
    # E.164 in shape, but of an impossible length for +1 and for an unassigned code.
    for sender in ("+1555777", "+155577777777777", "+999123456"):
        assert await send_sms(gateway, sender, LEE_NUMBER, "hello") == (200, EMPTY)
    assert len(await messages(imported)) == 7
    # On-call is still alerted to the crisis, and told that nobody answered the sender.
    vault = Vault.from_settings(imported)
    alerts = [row for row in await outbox(imported) if row.kind == "alert"]
    assert alerts
    for row in alerts:
        text = vault.open("outbox", "body", row.id, row.body_enc)
        assert "is not a phone number and got no reply" in text
        assert "got crisis resources" not in text


# Bad input --------------------------------------------------------------------------------


async def test_malformed_forms_never_get_a_500(gateway: Client, imported: Settings) -> None:
    cases: list[dict[str, str]] = [
        {"MessageSid": new_sid(), "To": LEE_NUMBER, "Body": "no from"},
        {"MessageSid": new_sid(), "From": RILEY, "Body": "no to"},
        {"From": RILEY, "To": LEE_NUMBER, "Body": "no sid"},
    ]
    for params in cases:
        assert (await post_signed(gateway, "/twilio/sms", params)).status == 400
    no_body = sms_params(RILEY, LEE_NUMBER, None)
    assert (await post_signed(gateway, "/twilio/sms", no_body)).status == 200
    long_body = sms_params(RILEY, LEE_NUMBER, "x" * 2000)
    assert (await post_signed(gateway, "/twilio/sms", long_body)).status == 200
    odd_numbers = sms_params("5557654322", "not-a-number", "hello")
    assert (await post_signed(gateway, "/twilio/sms", odd_numbers)).status == 200
    assert (await gateway.get("/twilio/sms")).status == 405
    huge = await gateway.post("/twilio/sms", data={"Body": "x" * 70_000})
    assert huge.status == 413


async def test_invalid_utf8_is_refused_cleanly(gateway: Client) -> None:
    raw = b"MessageSid=SM1&From=%2B15557654322&To=%2B15550009999&Body=%FF%FE"
    response = await gateway.post(
        "/twilio/sms",
        data=raw,
        headers={"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": "x"},
    )
    assert response.status in (400, 403)


async def test_a_signed_body_that_is_not_a_form_is_refused_with_400(
    gateway: Client, imported: Settings
) -> None:
    # Twilio signs the URL alone when there are no form fields: that signature holds here.
    response = await gateway.post(
        "/twilio/sms",
        data=b'{"Body": "hello"}',
        headers={"Content-Type": "application/json", "X-Twilio-Signature": sign("/twilio/sms", {})},
    )
    assert response.status == 400
    assert await messages(imported) == []


async def test_no_practice_imported_yet_answers_503(
    settings: Settings, clock: FixedClock, aiohttp_client: Any
) -> None:

    client = await aiohttp_client(make_app(settings, clock))
    status, _ = await send_sms(client, RILEY, LEE_NUMBER, "hello")
    assert status == 503


async def test_a_start_without_database_or_snapshot_says_so_in_its_503(
    settings: Settings, clock: FixedClock, aiohttp_client: Any
) -> None:
    """Not "no practice imported": an operator would look in the wrong place."""
    # A server that refuses at once, whichever database the suite runs on.
    nowhere = f"postgresql+asyncpg://postgres@127.0.0.1:{closed_port()}/gateway"
    unreachable = settings.model_copy(update={"database_url": nowhere})
    client = await aiohttp_client(make_app(unreachable, clock))
    status, text = await send_sms(client, RILEY, LEE_NUMBER, "hello")
    assert status == 503
    assert "database unreachable" in text


async def test_metrics_count_decisions_and_signature_failures(gateway: Client) -> None:
    await send_sms(gateway, RILEY, LEE_NUMBER, "hi")
    await gateway.post("/twilio/sms", data=sms_params(RILEY, LEE_NUMBER, "unsigned"))
    text = await (await gateway.get("/metrics")).text()
    assert 'gateway_inbound_messages_total{rule="open"} 1.0' in text
    assert "gateway_signature_failures_total 1.0" in text
    runtime = gateway.app[RUNTIME]
    assert runtime.writer.committed_batches >= 1


async def test_a_relay_to_a_client_whose_stop_another_replica_took_is_not_sent(
    imported: Settings, clock: FixedClock, aiohttp_client: Any
) -> None:
    """Replica B's memory has not caught up with Riley's STOP on replica A: its write finds the
    opt-out, and Dr. Lee is told the relay was not sent, not "Sent to"."""
    replica_a, replica_b = [await aiohttp_client(make_app(imported, clock)) for _ in range(2)]
    assert await send_sms(replica_a, RILEY, LEE_NUMBER, "STOP") == (200, EMPTY)
    status, answer = await send_sms(replica_b, LEE_OWN_PHONE, LEE_NUMBER, "#c1002 see you at 3")
    assert status == 200
    assert "Not sent: #c1002 has opted out of texts." in answer
    assert [row for row in await outbox(imported) if row.kind == "relay"] == []
    assert [m for m in await messages(imported) if m.direction == "outbound"] == []
    [relay] = [m for m in await messages(imported) if m.rule == "relay"]
    decision = {row.message_id: row for row in await table_rows(imported, "decisions")}[relay.id]
    assert decision.reason == "relay from a therapist's phone refused: client opted out"
    # A retry of the webhook gets the same answer.
    assert relay.twiml == answer
