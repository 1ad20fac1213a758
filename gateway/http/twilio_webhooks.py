"""Twilio's webhooks: inbound SMS and delivery status callbacks.

Bad input is refused in the contract's order, before anything is stored: body too large 413,
missing or wrong signature 403, signed but unusable 400, no practice yet 503.
"""

from __future__ import annotations

import re
import time
from typing import Final
from urllib.parse import parse_qsl

import structlog
from aiohttp import web

from gateway.http.keys import RUNTIME
from gateway.inbound import NoPracticeError, NotRecordedError
from gateway.inbound_record import InboundSmsForm
from gateway.status_job import StatusJob
from gateway.twilio.twiml import CONTENT_TYPE

log = structlog.get_logger(__name__)
routes = web.RouteTableDef()

FORM = "application/x-www-form-urlencoded"
_SID: Final = re.compile(r"[A-Za-z0-9_-]{2,64}")
_STATUS: Final = re.compile(r"[a-z_]{1,32}")
_ERROR_CODE: Final = re.compile(r"[0-9]{1,9}")


def _plain(status: int, text: str) -> web.Response:
    return web.Response(status=status, text=text + "\n", content_type="text/plain")


async def _signed_form(request: web.Request) -> dict[str, str] | web.Response:
    """The form's fields once the signature holds, or the refusal to answer with."""
    runtime = request.app[RUNTIME]
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge:
        return _plain(413, "request body too large")
    is_form = request.content_type == FORM
    params, utf8 = _form(raw) if is_form else ({}, True)
    signature = request.headers.get("X-Twilio-Signature")
    if not runtime.signatures.is_valid(request.raw_path, params, signature):
        runtime.metrics.signature_failures.inc()
        return _plain(403, "invalid or missing X-Twilio-Signature")
    if not is_form:
        return _plain(400, "expected a form (application/x-www-form-urlencoded)")
    if not utf8:
        return _plain(400, "the form is not valid UTF-8")
    return params


def _form(raw: bytes) -> tuple[dict[str, str], bool]:
    """The form's fields, and whether it was valid UTF-8. An invalid form is still parsed
    (with replacement characters) so that its signature can be checked before it is refused."""
    try:
        text = raw.decode("utf-8")
        return dict(parse_qsl(text, keep_blank_values=True, errors="strict")), True
    except UnicodeDecodeError:
        text = raw.decode("utf-8", errors="replace")
        return dict(parse_qsl(text, keep_blank_values=True, errors="replace")), False


@routes.post("/twilio/sms")
async def inbound_sms(request: web.Request) -> web.Response:
    started = time.perf_counter()
    params = await _signed_form(request)
    if isinstance(params, web.Response):
        return params
    missing = [name for name in ("MessageSid", "From", "To") if not params.get(name, "").strip()]
    if missing:
        return _plain(400, f"missing {', '.join(missing)}")
    form = InboundSmsForm(
        sid=params["MessageSid"].strip(),
        from_number=params["From"].strip(),
        to_number=params["To"].strip(),
        body=params.get("Body", ""),
    )
    try:
        twiml = await request.app[RUNTIME].inbound.handle(form)
    except NoPracticeError:
        if request.app[RUNTIME].config.directory is None:
            # Never loaded: the database was unreachable at start, with no snapshot to use.
            return _plain(503, "configuration not loaded yet (database unreachable); retry later")
        return _plain(503, "no practice has been imported yet")
    except NotRecordedError:
        return _plain(503, "the message could not be recorded; retry later")
    request.app[RUNTIME].metrics.webhook_latency.observe(time.perf_counter() - started)
    return web.Response(text=twiml, content_type=CONTENT_TYPE)


@routes.post("/twilio/status")
async def status_callback(request: web.Request) -> web.Response:
    params = await _signed_form(request)
    if isinstance(params, web.Response):
        return params
    sid = params.get("MessageSid", "").strip()
    status = (params.get("MessageStatus") or params.get("SmsStatus") or "").strip().lower()
    if not sid or not status:
        return _plain(400, "missing MessageSid or MessageStatus")
    code = params.get("ErrorCode", "").strip()
    # Twilio's SIDs, statuses and error codes have these shapes; anything else is not kept in
    # the audit log, where it could never be taken out again.
    if not _SID.fullmatch(sid) or not _STATUS.fullmatch(status):
        return _plain(400, "malformed MessageSid or MessageStatus")
    if code and not _ERROR_CODE.fullmatch(code):
        return _plain(400, "malformed ErrorCode")
    runtime = request.app[RUNTIME]
    job = StatusJob(sid, status, int(code) if code else None, runtime.clock.now())
    try:
        await runtime.writer.submit(job)
    except Exception as exc:  # noqa: BLE001 - the database is away: spooled, never a 500
        log.warning("status_spooled", error_type=type(exc).__name__)
        try:
            await runtime.spool.save_status(job)
        except OSError:
            return _plain(503, "status not recorded; retry later")
    return web.Response(status=204)
