"""/api/v1/messages: metadata lists, audited body reads and therapists' replies."""

from __future__ import annotations

from aiohttp import web
from pydantic import ConfigDict, Field

from gateway.api_services import messages as message_service
from gateway.api_services import replies as reply_service
from gateway.api_services.paging import DEFAULT_LIMIT
from gateway.http.api.auth import caller_of
from gateway.http.api.fields import (
    SINCE,
    UNTIL,
    BodyModel,
    Cursor,
    Flag,
    Identifier,
    Instant,
    Limit,
    OptionalReason,
    QueryModel,
    SmsText,
)
from gateway.http.api.parsing import context_of, parse_body, parse_query, path_id
from gateway.http.api.rendering import render
from gateway.http.api.spec import EVERYONE, THERAPIST, Operation, Reply


class MessagesQuery(QueryModel):
    client: Identifier | None = Field(default=None, description="A client id")
    therapist: Identifier | None = Field(default=None, description="A therapist id")
    flag: Flag | None = Field(
        default=None, description="crisis, after_hours, unknown_sender or opt_out"
    )
    since: Instant | None = Field(default=None, description=SINCE)
    # Exclusive, so that consecutive ranges never share a message.
    until: Instant | None = Field(default=None, description=UNTIL)
    limit: Limit = DEFAULT_LIMIT
    cursor: Cursor | None = None


class MessageReadQuery(QueryModel):
    reason: OptionalReason = Field(
        default=None, description="Why the body is read; kept in the audit log (admins: required)"
    )


class ReplyBody(BodyModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"client": "c1001", "body": "See you Tuesday at 3.", "urgent": False}]
        }
    )

    client: Identifier
    body: SmsText
    urgent: bool = False
    reason: OptionalReason = None


async def list_messages(request: web.Request) -> web.Response:
    query = parse_query(request, MessagesQuery)
    wanted = message_service.MessageFilter(
        client=query.client,
        therapist=query.therapist,
        flag=query.flag,
        since=query.since,
        until=query.until,
    )
    page = await message_service.list_messages(
        context_of(request), caller_of(request), wanted, limit=query.limit, cursor=query.cursor
    )
    return render(page)


async def read_message(request: web.Request) -> web.Response:
    message_id = path_id(request, "id", "message")
    query = parse_query(request, MessageReadQuery)
    detail = await message_service.read_message(
        context_of(request), caller_of(request), message_id, query.reason
    )
    return render(detail)


async def send_message(request: web.Request) -> web.Response:
    body = await parse_body(request, ReplyBody)
    sent = await reply_service.send_reply(
        context_of(request),
        caller_of(request),
        reply_service.ReplyRequest(body.client, body.body, body.urgent, body.reason),
    )
    return render(sent, 201)


OPERATIONS = (
    Operation(
        "GET",
        "/messages",
        list_messages,
        "Message metadata (no bodies), newest first; therapists see only their own",
        EVERYONE,
        {200: Reply("A page of messages", message_service.MessagePage)},
        query=MessagesQuery,
    ),
    Operation(
        "GET",
        "/messages/{id}",
        read_message,
        "One message with its body and decision; every read is audited (admins give a reason)",
        EVERYONE,
        {200: Reply("The message", message_service.MessageDetail)},
        query=MessageReadQuery,
    ),
    Operation(
        "POST",
        "/messages",
        send_message,
        "Reply to one of the therapist's clients: sent now within contact hours, otherwise "
        "held until the next opening unless urgent with a reason",
        THERAPIST,
        {201: Reply("The reply, queued or held", reply_service.SentReply)},
        body=ReplyBody,
        errors=(409,),
    ),
)
