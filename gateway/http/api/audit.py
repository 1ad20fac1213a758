"""/api/v1/audit: the audit log, for admins."""

from __future__ import annotations

from aiohttp import web
from pydantic import Field

from gateway.api_services import audit_log
from gateway.api_services.paging import DEFAULT_LIMIT
from gateway.http.api.auth import caller_of
from gateway.http.api.fields import SINCE, Cursor, Instant, Limit, QueryModel
from gateway.http.api.parsing import context_of, parse_query
from gateway.http.api.rendering import render
from gateway.http.api.spec import ADMIN, Operation, Reply


class AuditQuery(QueryModel):
    since: Instant | None = Field(default=None, description=SINCE)
    limit: Limit = DEFAULT_LIMIT
    cursor: Cursor | None = None


async def list_audit(request: web.Request) -> web.Response:
    query = parse_query(request, AuditQuery)
    page = await audit_log.list_audit(
        context_of(request),
        caller_of(request),
        since=query.since,
        limit=query.limit,
        cursor=query.cursor,
    )
    return render(page)


OPERATIONS = (
    Operation(
        "GET",
        "/audit",
        list_audit,
        "Audit events, newest first",
        ADMIN,
        {200: Reply("A page of audit events", audit_log.AuditPage)},
        query=AuditQuery,
    ),
)
