"""Bearer tokens for /api/v1: every API request names an active token, or gets a 401."""

from __future__ import annotations

from typing import Final

from aiohttp import web
from aiohttp.typedefs import Handler

from gateway.api_services.caller import Caller
from gateway.api_services.errors import ForbiddenError, UnauthorizedError
from gateway.audit.store import AuditEvent, append_events
from gateway.db.engine import reader
from gateway.http.api.errors import is_api_path
from gateway.http.keys import RUNTIME
from gateway.tokens import authenticate

CALLER: Final = web.RequestKey("caller", Caller)
# Far longer than any token we issue; refusing early keeps hashing cheap.
_MAX_TOKEN: Final = 256


def _bearer(request: web.Request) -> str:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise UnauthorizedError("an Authorization: Bearer token is required")
    return token


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    if not is_api_path(request.path):
        return await handler(request)
    # Wrong method and oversized bodies are answered first, token or not, as everywhere else.
    refusal = request.match_info.http_exception
    if isinstance(refusal, web.HTTPMethodNotAllowed):
        raise refusal
    if (request.content_length or 0) > request.client_max_size:
        raise web.HTTPRequestEntityTooLarge(
            max_size=request.client_max_size, actual_size=request.content_length or 0
        )
    token = _bearer(request)
    info = None
    if len(token) <= _MAX_TOKEN:
        runtime = request.app[RUNTIME]
        async with reader(runtime.engine).connect() as connection:
            info = await authenticate(connection, token, runtime.clock.now())
    if info is not None and therapist_gone(request, info.therapist_id):
        # A therapist removed from the practice takes their tokens with them.
        info = None
    if info is None:
        # One answer for wrong, revoked and expired tokens: which one is no one's business.
        raise UnauthorizedError("the token is not valid (unknown, revoked or expired)")
    request[CALLER] = Caller.from_token(info)
    try:
        return await handler(request)
    except ForbiddenError:
        await _audit_denial(request, info.id)
        raise


def therapist_gone(request: web.Request, therapist_id: str | None) -> bool:
    """Whether the caller's therapist was removed (`import --prune`): their access ends."""
    directory = request.app[RUNTIME].config.directory
    return (
        therapist_id is not None
        and directory is not None
        and therapist_id not in directory.therapists
    )


async def _audit_denial(request: web.Request, token_id: str) -> None:
    """A known caller refused for their role is recorded: who tried what. (Unknown tokens are
    not, or anyone could grow the chain without limit.)"""
    runtime = request.app[RUNTIME]
    route = request.match_info.route.resource
    where = route.canonical if route is not None else request.path
    event = AuditEvent(
        runtime.clock.now(),
        f"token:{token_id}",
        "access_denied",
        where,
        {"method": request.method, "status": 403},
    )
    async with runtime.engine.begin() as connection:
        await append_events(connection, [event])


def caller_of(request: web.Request) -> Caller:
    return request[CALLER]
