"""The pages over HTTP: availability edits go through the API's use cases, validation errors
save nothing, and each role sees only its own."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

from sqlalchemy import update

from gateway.db.engine import create_engine
from gateway.db.tables import MessageRow
from gateway.http.keys import RUNTIME
from gateway.import_command import run_import
from gateway.practice_file import parse_practice_file
from gateway.settings import Settings
from tests.integration.conftest import EXAMPLE, LEE_NUMBER, table_rows
from tests.support.twilio_client import send_sms
from tests.web.conftest import ADMIN_EMAIL, LEE_EMAIL, OKAFOR_EMAIL, Browser


async def lee_hours(settings: Settings) -> dict[str, list[str]]:
    [lee] = [row for row in await table_rows(settings, "therapists") if row.id == "lee"]
    return dict(lee.hours)


async def test_the_state_line_follows_the_hours(pages: Browser) -> None:
    await pages.sign_in(LEE_EMAIL)
    page = await pages.get("/availability/lee")
    assert "Open until 5:00 PM EST" in page.text
    removed = await pages.post(
        "/availability/lee/windows/remove", {"day": "tue", "window": "09:00-17:00"}, csrf=page.csrf
    )
    assert removed.status == 303
    after = await pages.get("/availability/lee")
    assert "Closed; next opening tomorrow at 9:00 AM EST" in after.text


async def test_an_overnight_window_is_added(pages: Browser, imported: Settings) -> None:
    await pages.sign_in(LEE_EMAIL)
    token = await pages.form_token("/availability/lee")
    page = await pages.post(
        "/availability/lee/windows", {"day": "fri", "start": "21:00", "end": "02:00"}, csrf=token
    )
    assert page.status == 303
    assert (await lee_hours(imported))["fri"] == ["21:00-02:00"]


async def test_an_invalid_window_is_shown_next_to_the_field_and_nothing_is_saved(
    pages: Browser, imported: Settings
) -> None:
    await pages.sign_in(LEE_EMAIL)
    before = await lee_hours(imported)
    audit_before = len(await table_rows(imported, "audit_events"))
    token = await pages.form_token("/availability/lee")
    page = await pages.post(
        "/availability/lee/windows", {"day": "sat", "start": "10:00", "end": "10:00"}, csrf=token
    )
    assert page.status == 400
    assert 'id="end-error"' in page.text
    assert "starts and ends at the same time" in page.text
    # A bad start is shown at the start, and what was typed is not repeated in the error.
    for start in ("25:00", "09:60", "9", "x" * 5000):
        bad = await pages.post(
            "/availability/lee/windows", {"day": "sat", "start": start, "end": "10:00"}, csrf=token
        )
        assert bad.status == 400
        assert 'id="start-error"' in bad.text
        assert 'id="end-error"' not in bad.text
        assert "x" * 100 not in bad.text.split('id="start-error"')[1]
    bad_date = await pages.post(
        "/availability/lee/time-off",
        {"first_day": "2026-12-20", "last_day": "2026-12-10", "note": "trip"},
        csrf=token,
    )
    assert bad_date.status == 400
    assert 'id="last_day-error"' in bad_date.text
    assert await lee_hours(imported) == before
    assert len(await table_rows(imported, "time_off")) == 1
    assert len(await table_rows(imported, "audit_events")) == audit_before


async def test_time_off_and_public_holidays_are_saved(pages: Browser, imported: Settings) -> None:
    await pages.sign_in(LEE_EMAIL)
    token = await pages.form_token("/availability/lee")
    added = await pages.post(
        "/availability/lee/time-off",
        {"first_day": "2027-02-01", "last_day": "2027-02-05", "note": "Conference"},
        csrf=token,
    )
    assert added.status == 303
    assert "Conference" in (await pages.get("/availability/lee")).text
    await pages.post("/availability/lee/holidays", {}, csrf=token)
    [lee] = [row for row in await table_rows(imported, "therapists") if row.id == "lee"]
    assert lee.public_holidays is False


async def test_a_therapist_cannot_see_another_therapists_availability(pages: Browser) -> None:
    await pages.sign_in(LEE_EMAIL)
    assert (await pages.get("/availability/okafor")).status == 403


async def test_a_therapist_cannot_open_another_therapists_client(pages: Browser) -> None:
    await pages.sign_in(LEE_EMAIL)
    assert (await pages.get("/inbox/c1001")).status == 200
    assert (await pages.get("/inbox/c2001")).status == 404
    assert (await pages.get("/inbox/nobody")).status == 404


async def test_a_reply_outside_hours_is_held(
    pages: Browser, imported: Settings, clock: object
) -> None:
    await pages.sign_in(OKAFOR_EMAIL)
    # Tuesday 09:00 in Chicago: Sam Okafor opens at 10:00.
    token = await pages.form_token("/inbox/c2001")
    page = await pages.post("/inbox/c2001/reply", {"body": "See you at 3."}, csrf=token)
    assert page.status == 303
    shown = await pages.get(page.location or "")
    assert "Your reply is held until Tue Dec 1, 10:00 AM CST" in shown.text
    [outbox] = await table_rows(imported, "outbox")
    assert outbox.kind == "reply"
    assert "held until Tue Dec 1, 10:00 AM CST" in shown.text
    await mark_sent(imported, outbox.message_id)
    after = await pages.get("/inbox/c2001")
    assert "sent (held until Tue Dec 1, 10:00 AM CST)" in after.text
    assert "until Tue" not in after.text.replace("(held until Tue", "")


async def mark_sent(settings: Settings, message_id: str) -> None:
    """What the worker writes when the held reply goes at the opening."""
    engine = create_engine(settings.database_url)
    try:
        async with engine.begin() as connection:
            await connection.execute(
                update(MessageRow).where(MessageRow.id == message_id).values(status="sent")
            )
    finally:
        await engine.dispose()


async def test_a_reply_form_sent_twice_sends_one_reply(pages: Browser, imported: Settings) -> None:
    await pages.sign_in(OKAFOR_EMAIL)
    form = await pages.get("/inbox/c2001")
    fields = {"body": "See you at 3.", "draft": form.draft}
    first = await pages.post("/inbox/c2001/reply", fields, csrf=form.csrf)
    again = await pages.post("/inbox/c2001/reply", fields, csrf=form.csrf)
    assert (first.status, again.status) == (303, 303)
    assert again.location == first.location == f"/inbox/c2001?sent={form.draft}"
    [outbox] = await table_rows(imported, "outbox")
    assert outbox.message_id == form.draft
    shown = await pages.get(first.location or "")
    assert shown.draft != form.draft  # the next reply is a new one


async def test_a_draft_id_of_another_reply_sends_nothing_and_says_so(
    pages: Browser, imported: Settings
) -> None:
    """The draft id keys one reply: sent already to another client, it is not this form's."""
    await pages.sign_in(LEE_EMAIL)
    form = await pages.get("/inbox/c1002")
    fields = {"body": "See you at 3.", "draft": form.draft}
    assert (await pages.post("/inbox/c1002/reply", fields, csrf=form.csrf)).status == 303
    other = await pages.post(
        "/inbox/c1001/reply", {"body": "Hello Jordan", "draft": form.draft}, csrf=form.csrf
    )
    assert other.status == 409
    assert "already used for another reply" in other.text
    assert len(await table_rows(imported, "outbox")) == 1


async def test_a_double_click_on_send_sends_one_reply(pages: Browser, imported: Settings) -> None:
    await pages.sign_in(OKAFOR_EMAIL)
    form = await pages.get("/inbox/c2001")
    fields = {"body": "See you at 3.", "draft": form.draft}
    answers = await asyncio.gather(
        *(pages.post("/inbox/c2001/reply", fields, csrf=form.csrf) for _ in range(3))
    )
    assert {(answer.status, answer.location) for answer in answers} == {
        (303, f"/inbox/c2001?sent={form.draft}")
    }
    assert len(await table_rows(imported, "outbox")) == 1


async def test_an_urgent_reply_needs_a_reason(pages: Browser, imported: Settings) -> None:
    await pages.sign_in(OKAFOR_EMAIL)
    token = await pages.form_token("/inbox/c2001")
    page = await pages.post(
        "/inbox/c2001/reply", {"body": "Call me.", "urgent": "on", "reason": ""}, csrf=token
    )
    assert page.status == 400
    assert 'id="reason-error"' in page.text
    assert await table_rows(imported, "outbox") == []


async def test_a_reply_with_nothing_to_read_or_too_long_is_refused(
    pages: Browser, imported: Settings
) -> None:
    await pages.sign_in(OKAFOR_EMAIL)
    for body in ("\u00a0\u3000\u200b", "\U0001f642" * 801):
        token = await pages.form_token("/inbox/c2001")
        page = await pages.post("/inbox/c2001/reply", {"body": body}, csrf=token)
        assert page.status == 400
        assert 'id="body-error"' in page.text
    assert await table_rows(imported, "outbox") == []


async def test_pages_for_admins_are_refused_to_therapists(pages: Browser) -> None:
    await pages.sign_in(LEE_EMAIL)
    assert (await pages.get("/audit")).status == 403


async def test_an_admin_exports_with_a_reason(pages: Browser) -> None:
    await pages.sign_in(ADMIN_EMAIL)
    token = await pages.form_token("/audit")
    page = await pages.post(
        "/audit/export", {"reason": "annual review", "format": "csv"}, csrf=token
    )
    assert page.status == 200
    assert page.text.startswith("id,direction,client")
    refused = await pages.post("/audit/export", {"reason": "", "format": "csv"}, csrf=token)
    assert refused.status == 400


async def test_every_page_renders_for_its_people(pages: Browser) -> None:
    await pages.sign_in(ADMIN_EMAIL)
    for path in ("/availability", "/availability/okafor", "/preview", "/audit", "/overview"):
        assert (await pages.get(path)).status == 200, path
    therapist = Browser(pages.client)
    await therapist.sign_in(LEE_EMAIL)
    for path in ("/availability/lee", "/preview", "/inbox", "/inbox/c1002", "/overview"):
        assert (await therapist.get(path)).status == 200, path


async def test_a_form_that_cannot_be_read_is_a_bad_request(pages: Browser) -> None:
    """A byte that is not UTF-8, or a broken multipart body: 400 and nothing done, not a 500."""
    for content_type, body in (
        ("application/x-www-form-urlencoded", b"\xff"),
        # Percent-encoded bytes that are not UTF-8: read as U+FFFD, they would be stored.
        ("application/x-www-form-urlencoded", b"email=caf%E9%FF&password=x"),
        ("multipart/form-data; boundary=zzz", b"x"),
    ):
        async with pages.client.post(
            "/signin", data=body, headers={"Content-Type": content_type}
        ) as response:
            assert response.status == 400


async def test_the_overview_counts_messages_from_clients_and_every_crisis(
    pages: Browser,
) -> None:
    riley, stranger = "+15557654322", "+15550101010"
    for sender, body in ((riley, "running late"), (stranger, "hi"), (stranger, "i want to die")):
        assert (await send_sms(pages.client, sender, LEE_NUMBER, body))[0] == 200
    await pages.sign_in(ADMIN_EMAIL)
    page = await pages.get("/overview")
    assert '<dd id="stat-inbound">1</dd>' in page.text
    assert '<dd id="stat-crisis">1</dd>' in page.text


async def test_a_time_off_note_with_control_characters_is_refused_as_by_the_api(
    pages: Browser, imported: Settings
) -> None:
    await pages.sign_in(LEE_EMAIL)
    before = len(await table_rows(imported, "time_off"))
    token = await pages.form_token("/availability/lee")
    page = await pages.post(
        "/availability/lee/time-off",
        {"first_day": "2026-12-10", "last_day": "2026-12-11", "note": "ctrl\x00\x07note"},
        csrf=token,
    )
    assert page.status == 400
    assert "control characters" in page.text
    assert len(await table_rows(imported, "time_off")) == before


async def test_dates_far_outside_the_calendar_are_refused_on_the_pages(pages: Browser) -> None:
    await pages.sign_in(ADMIN_EMAIL)
    for path in ("/overview", "/audit"):
        for dates in ({"until": "9999-12-31"}, {"since": "0001-01-01", "until": "0001-01-05"}):
            page = await pages.get(path, params=dates)
            assert page.status in (200, 400), (path, dates)
            assert "between 1970 and 2199" in page.text


async def test_a_therapist_removed_by_prune_loses_the_pages(
    pages: Browser, imported: Settings, tmp_path: Path
) -> None:
    """As their API tokens do: the session of a therapist no longer in the practice ends."""
    await pages.sign_in(LEE_EMAIL)
    assert (await pages.get("/inbox/c1001")).status == 200
    # The example practice without Dr. Lee and her clients.
    blocks = EXAMPLE.read_text(encoding="utf-8").split("\n\n")
    kept = [block for block in blocks if '"lee"' not in block]
    without_lee = tmp_path / "practice.toml"
    without_lee.write_text("\n\n".join(kept), encoding="utf-8")
    await run_import(imported, parse_practice_file(without_lee), prune=True)
    assert await pages.client.app[RUNTIME].config.refresh()

    page = await pages.get("/inbox")
    assert (page.status, page.location) == (303, "/signin?expired=1")


async def test_a_client_moved_to_another_therapist_takes_the_conversation_along(
    pages: Browser, imported: Settings, tmp_path: Path
) -> None:
    casey = "+15557654323"  # c2001, Sam Okafor's client, on the number he shares with Dr. Lee
    status, _ = await send_sms(pages.client, casey, LEE_NUMBER, "Can we talk about the group")
    assert status == 200
    example = EXAMPLE.read_text(encoding="utf-8")
    moved = tmp_path / "practice.toml"
    moved.write_text(example.replace('therapist = "okafor"', 'therapist = "lee"'), "utf-8")
    await run_import(imported, parse_practice_file(moved), prune=False)
    assert await pages.client.app[RUNTIME].config.refresh()

    await pages.sign_in(LEE_EMAIL)
    conversation = await pages.get("/inbox/c2001")
    assert conversation.status == 200
    assert "Can we talk about the group" in conversation.text


async def test_a_message_without_a_conversation_opens_on_its_own(
    pages: Browser, imported: Settings
) -> None:
    """An unknown sender and the therapist's own phone have no client to hold a
    conversation; their messages in the inbox open one at a time, audited."""
    status, _ = await send_sms(pages.client, "+15550101010", LEE_NUMBER, "Hi, new number here")
    assert status == 200
    await pages.sign_in(LEE_EMAIL)
    inbox = await pages.get("/inbox")
    [link] = re.findall(r'href="(/inbox/messages/[0-9a-f]{32})">unknown sender<', inbox.text)
    shown = await pages.get(link)
    assert shown.status == 200
    assert "Hi, new number here" in shown.text
    assert "unknown_sender: " in shown.text
    [read] = [e for e in await table_rows(imported, "audit_events") if e.action == "message_read"]
    assert read.subject == f"message:{link.rsplit('/', 1)[1]}"
    assert (await pages.get("/inbox/messages/" + "0" * 32)).status == 404
    assert (await pages.get("/inbox/messages/not-an-id")).status in (400, 404)
    okafor = Browser(pages.client)  # shares the number: the message is in his inbox too
    await okafor.sign_in(OKAFOR_EMAIL)
    assert (await okafor.get(link)).status == 200
    await send_sms(pages.client, "+15557654321", LEE_NUMBER, "Jordan to Dr. Lee")
    [jordans] = [m.id for m in await table_rows(imported, "messages") if m.client_id == "c1001"]
    assert (await pages.get(f"/inbox/messages/{jordans}")).status == 200
    assert (await okafor.get(f"/inbox/messages/{jordans}")).status == 404


async def test_a_head_request_reads_no_body_and_is_no_read_on_record(
    pages: Browser, imported: Settings
) -> None:
    await send_sms(pages.client, "+15557654321", LEE_NUMBER, "Running late today")
    [jordans] = [m.id for m in await table_rows(imported, "messages") if m.client_id == "c1001"]
    await pages.sign_in(LEE_EMAIL)
    for path in ("/inbox/c1001", f"/inbox/messages/{jordans}"):
        assert (await pages.head(path)).status == 405, path
    reads = [e for e in await table_rows(imported, "audit_events") if e.action == "message_read"]
    assert reads == []
    assert (await pages.get("/inbox/c1001")).status == 200
