"""The pages in a real browser (Debian's Chromium through Playwright), on the real app served
over HTTP with the example practice, at Tuesday 2026-12-01 10:00 in New York."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
import pytest_asyncio
from playwright.async_api import Browser, BrowserContext, Page, expect

from gateway.settings import Settings
from tests.integration.conftest import CASEY, JORDAN, RILEY, make_app, table_rows
from tests.support.clock import FixedClock
from tests.web import browser as chromium
from tests.web.conftest import ADMIN_EMAIL, LEE_EMAIL, PASSWORD, People
from tests.web.seed import seed_inbound

NY = ZoneInfo("America/New_York")

# One Chromium for the whole run (starting it takes a second or more); the tests, and the
# server each one starts, run in the same long-lived event loop as the browser.
pytestmark = pytest.mark.asyncio(loop_scope="session")


def ny(day: int, hour: int, minute: int = 0) -> datetime:
    """An instant given as New York wall time, late November and early December 2026."""
    month = 12 if day < 15 else 11
    return datetime(2026, month, day, hour, minute, tzinfo=NY).astimezone(UTC)


@pytest_asyncio.fixture(loop_scope="session")
async def base_url(imported: Settings, clock: FixedClock, people: People) -> AsyncIterator[str]:
    async for url in chromium.serve(make_app(imported, clock)):
        yield url


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def browser() -> AsyncIterator[Browser]:
    async for launched in chromium.launch():
        yield launched


Opener = Callable[[str | None], Awaitable[Page]]


@pytest_asyncio.fixture(loop_scope="session")
async def tabs(browser: Browser, base_url: str) -> AsyncIterator[Opener]:
    """Opens a page in a fresh browser context (its own cookies), signed in as `email`;
    every context is closed after the test, the shared browser stays."""
    contexts: list[BrowserContext] = []

    async def open_page(email: str | None) -> Page:
        page = await chromium.new_page(browser, base_url)
        contexts.append(page.context)
        if email is not None:
            await chromium.sign_in(page, email, PASSWORD)
        return page

    yield open_page
    for context in contexts:
        await context.close()


async def test_a_therapist_signs_in_sets_hours_and_sees_the_state_line_change(tabs: Opener) -> None:
    page = await tabs(LEE_EMAIL)
    await expect(page).to_have_url(re.compile(r"/availability/lee$"))
    state = page.locator("#state")
    await expect(state).to_have_text("Open until 5:00 PM EST")
    await page.get_by_role("button", name="Remove Tuesday 09:00-17:00").click()
    await expect(state).to_have_text("Closed; next opening tomorrow at 9:00 AM EST")
    await page.get_by_label("Day", exact=True).select_option("tue")
    await page.get_by_label("From", exact=True).fill("08:00")
    await page.get_by_label("Until", exact=True).fill("12:30")
    await page.get_by_role("button", name="Add window").click()
    await expect(state).to_have_text("Open until 12:30 PM EST")


async def test_the_overview_heatmap_cells_equal_the_seeded_counts(
    tabs: Opener, imported: Settings
) -> None:
    seeded = {(0, 21): 3, (1, 8): 1, (5, 23): 2}  # (weekday, hour) in New York
    times = {(0, 21): (30, 21), (1, 8): (1, 8), (5, 23): (28, 23)}
    for cell, count in seeded.items():
        day, hour = times[cell]
        for minute in range(count):
            await seed_inbound(
                imported,
                at=ny(day, hour, minute * 10),
                client_id="c1002",
                therapist_id="lee",
                phone=RILEY,
                body="synthetic message",
                flags=("after_hours",),
            )
    page = await tabs(ADMIN_EMAIL)
    await page.goto("/overview")
    heatmap = page.locator("svg#heatmap")
    await expect(heatmap).to_be_visible()
    cells = heatmap.locator("rect.cell")
    await expect(cells).to_have_count(7 * 24)
    counts = await cells.evaluate_all(
        "cells => cells.map(c => [+c.dataset.day, +c.dataset.hour, +c.dataset.count])"
    )
    found = {(day, hour): count for day, hour, count in counts if count}
    assert found == seeded
    await expect(page.locator("#stat-inbound")).to_have_text("6")
    await expect(page.locator("#stat-after-hours")).to_have_text("6 (100%)")


async def test_preview_shows_an_after_hours_reply_and_a_crisis_alert(
    tabs: Opener, imported: Settings
) -> None:
    page = await tabs(LEE_EMAIL)
    await page.goto("/preview")
    await page.get_by_label("From", exact=True).select_option("c1002")
    await page.get_by_label("Date", exact=True).fill("2026-12-01")
    await page.get_by_label("Time (therapist's zone)", exact=True).fill("20:00")
    await page.get_by_label("Message", exact=True).fill("Can we move Thursday?")
    await page.get_by_role("button", name="Preview").click()
    await expect(page.locator("#result-rule")).to_have_text("closed")
    await expect(page.locator("#result-reply")).to_contain_text("tomorrow at 9:00 AM EST")
    await expect(page.locator("#result-forward")).to_contain_text(
        "gets the full text , held until Wed Dec 2, 9:00 AM EST"
    )
    await expect(page.locator("#result-alert")).to_have_text("No")

    await page.get_by_label("Message", exact=True).fill("I want to kill myself tonight")
    await page.get_by_role("button", name="Preview").click()
    await expect(page.locator("#result-rule")).to_have_text("crisis")
    await expect(page.locator("#result-alert")).to_have_text("Yes, at once")
    await expect(page.locator("#result-reply")).to_contain_text("988")
    await expect(page.locator("#result-flags")).to_contain_text("crisis")
    # Nothing was stored or sent.
    assert await table_rows(imported, "messages") == []
    assert await table_rows(imported, "outbox") == []


async def test_a_therapist_cannot_open_another_therapists_client(tabs: Opener) -> None:
    page = await tabs(LEE_EMAIL)
    own = await page.goto("/inbox/c1001")
    assert own is not None
    assert own.status == 200
    other = await page.goto("/inbox/c2001")
    assert other is not None
    assert other.status == 404
    await expect(page.get_by_role("heading", level=1)).to_have_text("Not found")


async def test_an_admin_must_give_a_reason_to_read_a_body(tabs: Opener, imported: Settings) -> None:
    await seed_inbound(
        imported,
        at=ny(1, 9),
        client_id="c2001",
        therapist_id="okafor",
        phone=CASEY,
        body="Running ten minutes late",
    )
    page = await tabs(ADMIN_EMAIL)
    await page.goto("/audit")
    await expect(page.locator("#chain")).to_contain_text("Audit chain verified")
    await page.get_by_role("link", name="Open…").click()
    await expect(page.get_by_text("Running ten minutes late")).to_have_count(0)
    await page.get_by_role("button", name="Open message").click()
    await expect(page.locator("#reason-error")).to_be_visible()
    await expect(page.get_by_text("Running ten minutes late")).to_have_count(0)
    reads = [
        row for row in await table_rows(imported, "audit_events") if row.action == "message_read"
    ]
    assert reads == []
    await page.get_by_label("Reason", exact=True).fill("billing dispute review")
    await page.get_by_role("button", name="Open message").click()
    await expect(page.locator("#message-body")).to_have_text("Running ten minutes late")
    [read] = [
        row for row in await table_rows(imported, "audit_events") if row.action == "message_read"
    ]
    assert read.details == {"reason": "billing dispute review"}


async def test_a_form_without_its_csrf_token_is_refused(tabs: Opener, imported: Settings) -> None:
    page = await tabs(LEE_EMAIL)
    form = page.locator("form", has=page.get_by_role("button", name="Add window"))
    await form.locator("input[name=csrf_token]").evaluate("input => input.remove()")
    await page.get_by_label("Day", exact=True).select_option("sat")
    await page.get_by_label("From", exact=True).fill("10:00")
    await page.get_by_label("Until", exact=True).fill("12:00")
    async with page.expect_response(lambda r: r.request.method == "POST") as answer:
        await page.get_by_role("button", name="Add window").click()
    assert (await answer.value).status == 403
    [lee] = [row for row in await table_rows(imported, "therapists") if row.id == "lee"]
    assert "sat" not in lee.hours


async def test_every_input_on_every_page_has_a_label(tabs: Opener, imported: Settings) -> None:
    await seed_inbound(
        imported, at=ny(1, 9), client_id="c1001", therapist_id="lee", phone=JORDAN, body="hello"
    )
    shots = chromium.screenshots_dir()
    anonymous = await tabs(None)
    therapist = await tabs(LEE_EMAIL)
    admin = await tabs(ADMIN_EMAIL)
    visits = [
        (anonymous, "/signin", "signin"),
        (therapist, "/availability/lee", "availability"),
        (therapist, "/preview", "preview"),
        (therapist, "/inbox", "inbox"),
        (therapist, "/inbox/c1001", "conversation"),
        (therapist, "/overview", "overview-therapist"),
        (admin, "/audit", "audit"),
        (admin, "/overview", "overview"),
        (admin, "/preview", "preview-admin"),
        (admin, "/availability", "availability-admin"),
    ]
    for page, path, name in visits:
        answer = await page.goto(path)
        assert answer is not None
        assert answer.status == 200, path
        unlabelled = await page.evaluate(chromium.UNLABELLED_CONTROLS_JS)
        assert unlabelled == [], path
        if shots is not None:
            await page.screenshot(path=str(shots / f"{name}.png"), full_page=True)
