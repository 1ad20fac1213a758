"""The admin's audit page: its filter narrows the messages, the audit events and the export
alike, and older messages and events are a page away."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta

from gateway.settings import Settings
from tests.integration.conftest import LEE_NUMBER, table_rows
from tests.support.clock import FixedClock
from tests.support.twilio_client import send_sms
from tests.web.conftest import ADMIN_EMAIL, Browser

JORDAN = "+15557654321"  # c1001
RILEY = "+15557654322"  # c1002

_SEQ = re.compile(r"<tr><td>(\d+)</td>")
_OLDER_EVENTS = re.compile(r'href="([^"]+)" rel="next">Older events')
_OLDER_MESSAGES = re.compile(r'href="([^"]+)" rel="next">Older messages')


def event_numbers(text: str) -> list[int]:
    return [int(seq) for seq in _SEQ.findall(text)]


async def test_the_filter_narrows_the_events_to_the_client(
    pages: Browser, clock: FixedClock
) -> None:
    await send_sms(pages.client, JORDAN, LEE_NUMBER, "running late")
    await send_sms(pages.client, RILEY, LEE_NUMBER, "see you thursday")
    await pages.sign_in(ADMIN_EMAIL)
    everything = await pages.get("/audit")
    assert everything.text.count("message_received") == 2
    jordans = await pages.get("/audit", params={"client": "c1001"})
    assert jordans.status == 200
    assert jordans.text.count("message_received") == 1
    events = jordans.content.split("<h2>Audit events</h2>")[1].split("<h2>")[0]
    assert '"client": "c1001"' in events
    assert "c1002" not in events
    crisis = await pages.get("/audit", params={"flag": "crisis"})
    assert "No audit events match." in crisis.text
    [jordans_message] = re.findall(r'href="/audit/messages/([0-9a-f]{32})"', jordans.text)
    read = await pages.post(
        f"/audit/messages/{jordans_message}", {"reason": "complaint review"}, csrf=jordans.csrf
    )
    assert read.status == 200
    # The read names no client in its details: it is found through the message it read.
    again = await pages.get("/audit", params={"client": "c1001"})
    assert "message_read" in again.text
    assert "message_read" not in (await pages.get("/audit", params={"client": "c1002"})).text
    lees = await pages.get("/audit", params={"therapist": "lee"})
    assert lees.text.count("message_received") == 2


async def test_older_events_and_messages_are_a_page_away(
    pages: Browser, clock: FixedClock, imported: Settings
) -> None:
    for n in range(205):
        clock.advance(timedelta(seconds=1))
        await send_sms(pages.client, RILEY, LEE_NUMBER, f"note {n}")
    await pages.sign_in(ADMIN_EMAIL)
    first = await pages.get("/audit")
    seen = event_numbers(first.text)
    assert len(seen) == 200
    older = _OLDER_EVENTS.search(first.text)
    assert older is not None
    second = await pages.get(older[1].replace("&amp;", "&"))
    rest = event_numbers(second.text)
    assert _OLDER_EVENTS.search(second.text) is None
    stored = sorted(row.seq for row in await table_rows(imported, "audit_events"))
    assert sorted(seen + rest) == stored
    assert first.text.count('href="/audit/messages/') == 200
    more = _OLDER_MESSAGES.search(first.text)
    assert more is not None
    page_two = await pages.get(more[1].replace("&amp;", "&"))
    assert page_two.text.count('href="/audit/messages/') == 5


async def test_the_export_takes_the_page_filter(pages: Browser, imported: Settings) -> None:
    await send_sms(pages.client, JORDAN, LEE_NUMBER, "running late")
    await send_sms(pages.client, RILEY, LEE_NUMBER, "see you thursday")
    await pages.sign_in(ADMIN_EMAIL)
    page = await pages.get("/audit", params={"client": "c1002"})
    assert '<input type="hidden" name="client" value="c1002">' in page.text
    exported = await pages.post(
        "/audit/export",
        {"reason": "records request", "format": "csv", "client": "c1002"},
        csrf=page.csrf,
    )
    assert exported.status == 200
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert [row["client"] for row in rows] == ["c1002"]
    [audited] = [e for e in await table_rows(imported, "audit_events") if e.action == "export"]
    assert audited.details["client"] == "c1002"
    bad = await pages.post(
        "/audit/export",
        {"reason": "records request", "format": "csv", "client": "nobody"},
        csrf=page.csrf,
    )
    assert bad.status == 400


async def test_a_refused_export_comes_back_to_the_page_with_its_errors(
    pages: Browser, imported: Settings
) -> None:
    await send_sms(pages.client, RILEY, LEE_NUMBER, "see you thursday")
    await pages.sign_in(ADMIN_EMAIL)
    page = await pages.get("/audit", params={"client": "c1002"})
    no_reason = await pages.post(
        "/audit/export", {"reason": " ", "format": "csv", "client": "c1002"}, csrf=page.csrf
    )
    assert no_reason.status == 400
    assert 'id="export-reason-error"' in no_reason.text
    # The filter it was asked from is still the page's.
    assert '<input type="hidden" name="client" value="c1002">' in no_reason.text
    bad_format = await pages.post(
        "/audit/export", {"reason": "records request", "format": "pdf"}, csrf=page.csrf
    )
    assert bad_format.status == 400
    assert 'id="export-format-error"' in bad_format.text
    assert 'value="records request"' in bad_format.text
    too_long = await pages.post(
        "/audit/export", {"reason": "x" * 5000, "format": "csv"}, csrf=page.csrf
    )
    assert too_long.status == 400
    assert "x" * 600 not in too_long.text
    assert [e for e in await table_rows(imported, "audit_events") if e.action == "export"] == []


async def test_dates_in_the_wrong_order_are_pointed_out(pages: Browser) -> None:
    await pages.sign_in(ADMIN_EMAIL)
    reversed_dates = await pages.get(
        "/audit", params={"since": "2026-12-05", "until": "2026-12-01"}
    )
    assert reversed_dates.status == 400
    assert 'id="until-error"' in reversed_dates.text
    one_day = await pages.get("/audit", params={"since": "2026-12-01", "until": "2026-12-01"})
    assert one_day.status == 200
