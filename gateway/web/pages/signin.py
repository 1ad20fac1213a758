"""Signing in and out."""

from __future__ import annotations

from typing import Final

from aiohttp import web

from gateway.http.keys import RUNTIME
from gateway.web import csrf
from gateway.web.cookies import SESSION_COOKIE, SIGNIN_COOKIE, clear_cookie, set_cookie
from gateway.web.keys import SESSION
from gateway.web.page import form, render, session
from gateway.web.signin import MAX_EMAIL, MAX_PASSWORD, Refused, sign_in, sign_out

_REFUSALS: Final = {
    "wrong_credentials": "That email and password do not match an account.",
    "locked": "Too many failed attempts: sign-in is paused for 15 minutes for this email.",
}


def _signin_form(
    request: web.Request, *, error: str | None, email: str, status: int
) -> web.Response:
    secret = request.app[RUNTIME].settings.secret("session")
    nonce = csrf.new_signin_nonce()
    notice = None
    if request.query.get("expired") == "1":
        notice = "Your session ended after a while without activity; please sign in again."
    response = render(
        request,
        "signin.html",
        {
            "csrf_token": csrf.signin_token(secret, nonce),
            "error": error,
            "notice": notice,
            "email": email,
        },
        status=status,
    )
    set_cookie(response, SIGNIN_COOKIE, nonce)
    return response


async def show(request: web.Request) -> web.StreamResponse:
    if SESSION in request:
        raise web.HTTPSeeOther("/")
    return _signin_form(request, error=None, email="", status=200)


async def submit(request: web.Request) -> web.StreamResponse:
    fields = await form(request)
    email = fields.get("email", "")[:MAX_EMAIL]
    password = fields.get("password", "")[:MAX_PASSWORD]
    if not email.strip() or not password:
        return _signin_form(
            request, error="Enter your email and password.", email=email, status=400
        )
    runtime = request.app[RUNTIME]
    outcome = await sign_in(
        runtime.engine, runtime.settings.secret("session"), email, password, runtime.clock.now()
    )
    if isinstance(outcome, Refused):
        status = 429 if outcome.why == "locked" else 401
        return _signin_form(request, error=_REFUSALS[outcome.why], email=email, status=status)
    response = web.HTTPSeeOther("/")
    set_cookie(response, SESSION_COOKIE, outcome.token)
    clear_cookie(response, SIGNIN_COOKIE)
    raise response


async def leave(request: web.Request) -> web.StreamResponse:
    runtime = request.app[RUNTIME]
    await sign_out(runtime.engine, session(request), runtime.clock.now())
    response = web.HTTPSeeOther("/signin")
    clear_cookie(response, SESSION_COOKIE)
    raise response


async def home(request: web.Request) -> web.StreamResponse:
    user = session(request).user
    raise web.HTTPSeeOther("/overview" if user.role == "admin" else "/availability")
