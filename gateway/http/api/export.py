"""/api/v1/export: message metadata and decisions as JSON lines or CSV, for admins."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from typing import Final

from aiohttp import web
from pydantic import Field

from gateway.api_services import export as export_service
from gateway.api_services.messages import MessageFilter
from gateway.http.api.auth import caller_of
from gateway.http.api.fields import SINCE, UNTIL, Flag, Identifier, Instant, QueryModel, Reason
from gateway.http.api.parsing import context_of, parse_query
from gateway.http.api.rendering import adapter
from gateway.http.api.spec import ADMIN, Operation, Reply

JSONL: Final = "application/x-ndjson"
CSV: Final = "text/csv"
CSV_COLUMNS: Final = (
    "id",
    "direction",
    "client",
    "therapist",
    "at",
    "status",
    "flags",
    "deliver_at",
    "rule",
    "reason",
)
# A spreadsheet runs a cell that starts with one of these as a formula.
_FORMULA_STARTS: Final = ("=", "+", "-", "@", "\t", "\r")


class ExportQuery(QueryModel):
    reason: Reason = Field(description="Why the export is made; kept in the audit log")
    format: export_service.ExportFormat = "jsonl"
    client: Identifier | None = Field(default=None, description="A client id")
    therapist: Identifier | None = Field(default=None, description="A therapist id")
    flag: Flag | None = Field(
        default=None, description="crisis, after_hours, unknown_sender or opt_out"
    )
    since: Instant | None = Field(default=None, description=SINCE)
    until: Instant | None = Field(default=None, description=UNTIL)


def _jsonl(rows: Iterable[export_service.ExportRow]) -> bytes:
    row_json = adapter(export_service.ExportRow)
    return b"".join(row_json.dump_json(row) + b"\n" for row in rows)


def _cell(value: str) -> str:
    return "'" + value if value.startswith(_FORMULA_STARTS) else value


def _csv(rows: Iterable[export_service.ExportRow]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for row in rows:
        writer.writerow(
            _cell(value)
            for value in (
                row.id,
                row.direction,
                row.client or "",
                row.therapist or "",
                row.at.isoformat(),
                row.status,
                " ".join(row.flags),
                row.deliver_at.isoformat() if row.deliver_at else "",
                row.rule or "",
                row.reason or "",
            )
        )
    return out.getvalue().encode("utf-8")


async def export_messages(request: web.Request) -> web.Response:
    query = parse_query(request, ExportQuery)
    rows = await export_service.export_messages(
        context_of(request),
        caller_of(request),
        export_service.ExportRequest(
            query.reason,
            query.format,
            MessageFilter(query.client, query.therapist, query.flag, query.since, query.until),
        ),
    )
    body, content_type = (_csv(rows), CSV) if query.format == "csv" else (_jsonl(rows), JSONL)
    return web.Response(
        body=body,
        content_type=content_type,
        charset="utf-8",
        headers={"Content-Disposition": f'attachment; filename="messages.{query.format}"'},
    )


OPERATIONS = (
    Operation(
        "GET",
        "/export",
        export_messages,
        "Message metadata and decisions, oldest first, as JSON lines or CSV; audited with "
        "the reason and the number of messages",
        ADMIN,
        {200: Reply("The export", media_types=(JSONL, CSV))},
        query=ExportQuery,
    ),
)
