"""The web pages' middleware, one concern after another, on page paths only (the API and the
webhooks have their own):

1. errors: a use case's refusal becomes a plain page with its status, never a trace;
2. headers: a strict Content-Security-Policy, no framing, no caching of pages with PHI;
3. origin: a form post from another site is refused before anything is read;
4. session: the signed-in person, or a redirect to the sign-in page;
5. csrf: every form post carries the session's token (before sign-in, the sign-in token).
"""

from __future__ import annotations

from typing import Final
from urllib.parse import parse_qsl

import structlog
from aiohttp import web
from aiohttp.typedefs import Handler
from sqlalchemy.exc import SQLAlchemyError

from gateway.api_services.errors import ApiError
from gateway.http.api.auth import therapist_gone
from gateway.http.api.errors import STATUS, client_gone
from gateway.http.keys import RUNTIME
from gateway.logs import route_of
from gateway.web import csrf
from gateway.web.cookies import SESSION_COOKIE, SIGNIN_COOKIE, clear_cookie
from gateway.web.keys import SESSION
from gateway.web.page import render
from gateway.web.sessions import load_session

log = structlog.get_logger(__name__)

# Paths the pages own; everything else passes through untouched.
PAGE_PREFIXES: Final = (
    "/signin",
    "/signout",
    "/availability",
    "/preview",
    "/inbox",
    "/audit",
    "/overview",
    "/static/",
)
OPEN_PATHS: Final = ("/signin", "/static/")
SIGNIN: Final = "/signin"
_SAFE_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS"})
SECURITY_HEADERS: Final = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


_PAGE_ROOTS: Final = frozenset(prefix.rstrip("/") for prefix in PAGE_PREFIXES)
# str.startswith takes a tuple: one call per request, which every webhook also pays.
_PAGE_SUBTREES: Final = tuple(root + "/" for root in _PAGE_ROOTS)


def is_page_path(path: str) -> bool:
    return path == "/" or path in _PAGE_ROOTS or path.startswith(_PAGE_SUBTREES)


def _is_open(path: str) -> bool:
    return any(path == p.rstrip("/") or path.startswith(p) for p in OPEN_PATHS)


def _refused(request: web.Request, message: str) -> web.Response:
    return render(request, "error.html", {"status": 403, "message": message}, status=403)


async def _form_readable(request: web.Request) -> bool:
    """Whether the posted form parses (aiohttp keeps it for the handler): a byte that is not
    UTF-8, or a broken multipart body, is a bad request, not a server error."""
    try:
        await request.post()
        if request.content_type == "application/x-www-form-urlencoded":
            # aiohttp turns percent-encoded bytes that are not UTF-8 into U+FFFD, which would
            # be stored and sent as if typed.
            parse_qsl((await request.read()).decode("utf-8"), errors="strict")
    except (UnicodeDecodeError, ValueError):
        log.info("web_form_unreadable", route=route_of(request))
        return False
    return True


async def _csrf_ok(request: web.Request) -> bool:
    given = (await request.post()).get(csrf.FIELD)
    if not isinstance(given, str):
        return False
    session = request.get(SESSION)
    if session is not None:
        return csrf.tokens_match(session.csrf_token, given)
    if request.path == SIGNIN:
        nonce = request.cookies.get(SIGNIN_COOKIE, "")
        secret = request.app[RUNTIME].settings.secret("session")
        return bool(nonce) and csrf.tokens_match(csrf.signin_token(secret, nonce), given)
    return False


async def _guarded(request: web.Request, handler: Handler) -> web.StreamResponse:
    runtime = request.app[RUNTIME]
    posting = request.method not in _SAFE_METHODS
    if posting and not csrf.same_origin(
        request.headers.get("Origin"),
        request.headers.get("Referer"),
        host=request.host,
        public_url=runtime.settings.public_url,
    ):
        log.info("web_csrf_refused", route=route_of(request), reason_code="origin")
        return _refused(request, "This form was sent from another site and was refused.")
    token = request.cookies.get(SESSION_COOKIE)
    expired = False
    if token:
        async with runtime.engine.begin() as connection:
            session = await load_session(
                connection, runtime.settings.secret("session"), token, runtime.clock.now()
            )
        if session is not None and not therapist_gone(request, session.user.therapist_id):
            request[SESSION] = session
        else:
            expired = True
    if posting and not await _form_readable(request):
        return render(
            request,
            "error.html",
            {"status": 400, "message": "This form could not be read. Please send it again."},
            status=400,
        )
    if posting and not await _csrf_ok(request):
        log.info("web_csrf_refused", route=route_of(request), reason_code="token")
        return _refused(request, "This form has expired or was not sent from our page.")
    if SESSION not in request and not _is_open(request.path):
        if posting:
            return _refused(request, "Please sign in again.")
        target = SIGNIN + ("?expired=1" if expired else "")
        response = web.HTTPSeeOther(target)
        if expired:
            clear_cookie(response, SESSION_COOKIE)
        raise response
    return await handler(request)


@web.middleware
async def page_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    if not is_page_path(request.path):
        return await handler(request)
    try:
        response = await _guarded(request, handler)
    except ApiError as problem:
        status = STATUS.get(type(problem), 400)
        response = render(
            request, "error.html", {"status": status, "message": problem.message}, status=status
        )
    except web.HTTPException as exc:
        exc.headers.update(SECURITY_HEADERS)
        raise
    except (SQLAlchemyError, OSError, TimeoutError) as exc:
        if isinstance(exc, OSError) and client_gone(request):
            log.info("request_abandoned", route=route_of(request))
            raise web.HTTPBadRequest(text="the request was cut short") from None
        log.warning(
            "web_database_unavailable", route=route_of(request), error_type=type(exc).__name__
        )
        response = render(
            request,
            "error.html",
            {"status": 503, "message": "The database is unavailable; try again shortly."},
            status=503,
        )
    response.headers.update(SECURITY_HEADERS)
    if not request.path.startswith("/static/"):
        response.headers["Cache-Control"] = "no-store"
    return response
