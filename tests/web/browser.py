"""Debian's Chromium driven by Playwright against the real app served on 127.0.0.1.

In CI (CI=true) a missing Chromium fails the browser tests; elsewhere they are skipped.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Final

import pytest
from aiohttp import web
from playwright.async_api import Browser, Page, async_playwright

CHROMIUM: Final = Path("/usr/bin/chromium")
ARGS: Final = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# Every wait in these tests is bounded by this, in milliseconds.
TIMEOUT_MS: Final = 10_000
# Set to a folder to save a screenshot of each page the label test visits.
SCREENSHOTS_VARIABLE: Final = "WEB_SCREENSHOTS_DIR"


def require_chromium() -> None:
    if CHROMIUM.exists():
        return
    message = f"{CHROMIUM} is missing: run .ci/install-browser"
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(message)
    pytest.skip(message)


async def serve(app: web.Application) -> AsyncIterator[str]:
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        yield f"http://{host}:{port}"
    finally:
        await runner.cleanup()


async def launch() -> AsyncIterator[Browser]:
    require_chromium()
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=ARGS, timeout=TIMEOUT_MS
        )
        try:
            yield browser
        finally:
            await browser.close()


async def new_page(browser: Browser, base_url: str) -> Page:
    context = await browser.new_context(base_url=base_url, viewport={"width": 1100, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    return await context.new_page()


async def sign_in(page: Page, email: str, password: str) -> None:
    await page.goto("/signin")
    await page.get_by_label("Email", exact=True).fill(email)
    await page.get_by_label("Password", exact=True).fill(password)
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url(lambda url: "/signin" not in url)


# Every visible form control must be named by a <label for=...> with text, the way a screen
# reader user finds it; aria-label alone is not accepted on inputs.
UNLABELLED_CONTROLS_JS: Final = """
() => Array.from(document.querySelectorAll('input, select, textarea'))
  .filter(el => el.type !== 'hidden')
  .filter(el => {
    const label = el.id && document.querySelector(`label[for="${el.id}"]`);
    return !label || !label.textContent.trim();
  })
  .map(el => el.name || el.outerHTML)
"""


def screenshots_dir() -> Path | None:
    folder = os.environ.get(SCREENSHOTS_VARIABLE)
    return Path(folder) if folder else None
