"""The therapist's inbox: recent messages from their own clients with their flags, one
conversation at a time, and a reply box under the same boundaries as the API."""

from __future__ import annotations

import re
from typing import Final

from aiohttp import web

from gateway.api_services import replies
from gateway.api_services.errors import ConflictError, InvalidInputError
from gateway.api_services.messages import MessageFilter, list_messages, read_message
from gateway.http.api.fields import sms_text_problem
from gateway.http.api.parsing import path_id
from gateway.outbox import new_id
from gateway.web.conversation import read_conversation
from gateway.web.page import api_context, display_zone, form, render, require_therapist
from rules.keywords import visible

RECENT: Final = 100
MAX_REASON: Final = 500
DRAFT_ID: Final = re.compile(r"[0-9a-f]{32}")

Errors = dict[str, str]


async def index(request: web.Request) -> web.StreamResponse:
    who = require_therapist(request)
    context = api_context(request)
    page = await list_messages(context, who, MessageFilter(), limit=RECENT, cursor=None)
    clients = context.directory().config.clients
    own = sorted(
        (c for c in clients.values() if c.therapist_id == who.therapist_id), key=lambda c: c.name
    )
    names = {c.id: c.name for c in own}
    return render(
        request,
        "inbox.html",
        {"messages": page.items, "clients": own, "names": names, "zone": display_zone(request)},
    )


async def _conversation(
    request: web.Request,
    client_id: str,
    *,
    errors: Errors | None = None,
    values: dict[str, str] | None = None,
    status: int = 200,
) -> web.Response:
    who = require_therapist(request)
    conversation = await read_conversation(api_context(request), who, client_id)
    values = dict(values or {})
    if _draft(values) is None:
        values["draft"] = new_id()
    return render(
        request,
        "conversation.html",
        {
            "conversation": conversation,
            "errors": errors or {},
            "values": values,
            "sent": request.query.get("sent"),
            "zone": display_zone(request),
        },
        status=status,
    )


async def show(request: web.Request) -> web.StreamResponse:
    return await _conversation(request, path_id(request, "client", "client"))


async def show_message(request: web.Request) -> web.StreamResponse:
    """One message of the therapist's inbox, also from an unknown sender or their own phone
    (which have no conversation); the read is audited."""
    who = require_therapist(request)
    context = api_context(request)
    detail = await read_message(context, who, path_id(request, "message", "message"), None)
    clients = context.directory().config.clients
    client = clients.get(detail.client) if detail.client is not None else None
    return render(
        request,
        "inbox_message.html",
        {
            "detail": detail,
            "client_name": client.name if client is not None else None,
            "zone": display_zone(request),
        },
    )


async def reply(request: web.Request) -> web.StreamResponse:
    who = require_therapist(request)
    client_id = path_id(request, "client", "client")
    fields = await form(request)
    body = fields.get("body", "")
    urgent = fields.get("urgent") == "on"
    reason = fields.get("reason", "").strip()
    errors: Errors = {}
    problem = sms_text_problem(body)
    if not visible(body):
        errors["body"] = "Write the message first."
    elif problem is not None:
        errors["body"] = f"The message {problem}."
    if urgent and not reason:
        errors["reason"] = "An urgent message needs a reason (it is kept in the audit log)."
    elif len(reason) > MAX_REASON or "\n" in reason:
        errors["reason"] = f"Give the reason on one line, under {MAX_REASON} characters."
    if errors:
        return await _conversation(request, client_id, errors=errors, values=fields, status=400)
    try:
        sent = await replies.send_reply(
            api_context(request),
            who,
            replies.ReplyRequest(client_id, body, urgent, reason or None, _draft(fields)),
        )
    except replies.AlreadySentError as already:
        raise web.HTTPSeeOther(f"/inbox/{client_id}?sent={already.message_id}") from None
    except (ConflictError, InvalidInputError) as exc:
        return await _conversation(
            request, client_id, errors={"body": exc.message}, values=fields, status=409
        )
    # Back to the page by GET, so that reloading it cannot send the reply twice.
    raise web.HTTPSeeOther(f"/inbox/{client_id}?sent={sent.id}")


def _draft(fields: dict[str, str]) -> str | None:
    """The reply's id, chosen when the form was shown: a form sent twice writes one reply."""
    draft = fields.get("draft", "")
    return draft if DRAFT_ID.fullmatch(draft) else None
