"""Signing in and out: cookies, lock-out, idle timeout, CSRF and the audit trail."""

from __future__ import annotations

from datetime import timedelta

from gateway.settings import Settings
from gateway.web.sessions import IDLE_TIMEOUT
from gateway.web.signin import LOCK_AFTER_FAILURES, LOCK_WINDOW
from tests.integration.conftest import table_rows
from tests.support.clock import FixedClock
from tests.web.conftest import ADMIN_EMAIL, LEE_EMAIL, Browser, People


async def audit_actions(settings: Settings) -> list[tuple[str, str, str | None]]:
    rows = await table_rows(settings, "audit_events")
    return [(row.actor, row.action, row.subject) for row in sorted(rows, key=lambda r: r.seq)]


async def test_pages_send_a_visitor_without_a_session_to_sign_in(pages: Browser) -> None:
    for path in ("/", "/availability", "/inbox", "/audit", "/overview", "/preview"):
        page = await pages.get(path)
        assert page.status == 303
        assert page.location == "/signin"


async def test_signing_in_sets_a_secure_httponly_samesite_cookie(pages: Browser) -> None:
    page = await pages.sign_in(LEE_EMAIL)
    assert page.status == 303
    [session_cookie] = [c for c in pages.raw_set_cookies if c.startswith("__Host-gateway_session=")]
    attributes = {part.strip().lower() for part in session_cookie.split(";")[1:]}
    assert {"secure", "httponly", "samesite=lax", "path=/"} <= attributes
    assert not any(part.startswith("domain") for part in attributes)
    assert (await pages.get("/availability/lee")).status == 200


async def test_the_signin_form_cookie_is_secure_and_httponly_too(pages: Browser) -> None:
    await pages.get("/signin")
    [cookie] = [c for c in pages.raw_set_cookies if c.startswith("__Host-gateway_signin=")]
    attributes = {part.strip().lower() for part in cookie.split(";")[1:]}
    assert {"secure", "httponly", "samesite=lax"} <= attributes


async def test_pages_carry_a_strict_content_security_policy(pages: Browser) -> None:
    page = await pages.get("/signin")
    assert "default-src 'none'" in page.headers["Content-Security-Policy"]
    assert page.headers["X-Frame-Options"] == "DENY"
    assert page.headers["Cache-Control"] == "no-store"


async def test_sign_in_and_sign_out_are_audited(
    pages: Browser, people: People, imported: Settings
) -> None:
    await pages.sign_in(LEE_EMAIL)
    token = await pages.form_token("/availability/lee")
    page = await pages.post("/signout", {}, csrf=token)
    assert page.status == 303
    assert page.location == "/signin"
    assert (await pages.get("/availability/lee")).status == 303
    actions = await audit_actions(imported)
    assert (f"user:{people.lee}", "signed_in", f"user:{people.lee}") in actions
    assert (f"user:{people.lee}", "signed_out", f"user:{people.lee}") in actions


async def test_a_wrong_password_is_refused_and_audited_without_the_email(
    pages: Browser, people: People, imported: Settings
) -> None:
    page = await pages.sign_in(LEE_EMAIL, "not the password at all")
    assert page.status == 401
    assert "do not match" in page.text
    assert "__Host-gateway_session" not in pages.cookies
    assert ("web", "sign_in_failed", f"user:{people.lee}") in await audit_actions(imported)
    rows = await table_rows(imported, "audit_events")
    assert all(LEE_EMAIL not in str(row.details) for row in rows)
    [attempt] = await table_rows(imported, "login_attempts")
    assert LEE_EMAIL not in attempt.email_key


async def test_repeated_failures_lock_the_email_out_even_with_the_right_password(
    pages: Browser, clock: FixedClock
) -> None:
    for _ in range(LOCK_AFTER_FAILURES):
        await pages.sign_in(LEE_EMAIL, "wrong password guess")
    locked = await pages.sign_in(LEE_EMAIL)
    assert locked.status == 429
    assert "paused" in locked.text
    # Another account is not affected.
    assert (await Browser(pages.client).sign_in(ADMIN_EMAIL)).status == 303
    clock.advance(LOCK_WINDOW + timedelta(seconds=1))
    assert (await pages.sign_in(LEE_EMAIL)).status == 303


async def test_an_unknown_email_is_refused_like_a_wrong_password(pages: Browser) -> None:
    page = await pages.sign_in("nobody@lakeside.example")
    assert page.status == 401
    assert "do not match" in page.text


async def test_a_session_ends_after_the_idle_timeout(pages: Browser, clock: FixedClock) -> None:
    await pages.sign_in(LEE_EMAIL)
    clock.advance(IDLE_TIMEOUT - timedelta(minutes=1))
    assert (await pages.get("/availability/lee")).status == 200
    # Activity moved the deadline.
    clock.advance(IDLE_TIMEOUT - timedelta(minutes=1))
    assert (await pages.get("/availability/lee")).status == 200
    clock.advance(IDLE_TIMEOUT)
    page = await pages.get("/availability/lee")
    assert page.status == 303
    assert page.location == "/signin?expired=1"
    assert "after a while without activity" in (await pages.get("/signin?expired=1")).text


async def test_a_form_without_the_csrf_token_is_refused(pages: Browser) -> None:
    await pages.sign_in(LEE_EMAIL)
    page = await pages.post(
        "/availability/lee/windows", {"day": "sat", "start": "10:00", "end": "12:00"}, csrf=None
    )
    assert page.status == 403
    wrong = await pages.post(
        "/availability/lee/windows",
        {"day": "sat", "start": "10:00", "end": "12:00"},
        csrf="made-up-token",
    )
    assert wrong.status == 403
    assert "sat" not in (await pages.get("/availability/lee")).content.lower().split("saturday")[0]


async def test_a_form_posted_from_another_site_is_refused(pages: Browser) -> None:
    await pages.sign_in(LEE_EMAIL)
    token = await pages.form_token("/availability/lee")
    page = await pages.post(
        "/availability/lee/windows",
        {"day": "sat", "start": "10:00", "end": "12:00"},
        csrf=token,
        headers={"Origin": "https://attacker.example"},
    )
    assert page.status == 403


async def test_the_signin_form_needs_its_own_token(pages: Browser) -> None:
    await pages.get("/signin")
    page = await pages.post("/signin", {"email": LEE_EMAIL, "password": "x" * 20}, csrf=None)
    assert page.status == 403
