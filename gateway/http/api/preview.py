"""/api/v1/preview: what the gateway would do with a message, without doing it."""

from __future__ import annotations

from aiohttp import web
from pydantic import ConfigDict, Field

from gateway.api_services import preview as preview_service
from gateway.http.api.auth import caller_of
from gateway.http.api.fields import Address, BodyModel, Instant
from gateway.http.api.parsing import context_of, parse_body
from gateway.http.api.rendering import render
from gateway.http.api.spec import EVERYONE, Operation, Reply


class PreviewBody(BodyModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "from": "+15557654321",
                    "to": "+15550009999",
                    "body": "Can we move Tuesday to 3pm?",
                    "at": "2026-12-01T20:00:00-05:00",
                }
            ]
        }
    )

    sender: Address = Field(alias="from")
    to: Address
    body: str = Field(max_length=1600)
    at: Instant


async def run_preview(request: web.Request) -> web.Response:
    body = await parse_body(request, PreviewBody)
    result = preview_service.preview(
        context_of(request),
        caller_of(request),
        preview_service.PreviewRequest(body.sender, body.to, body.body, body.at),
    )
    return render(result)


OPERATIONS = (
    Operation(
        "POST",
        "/preview",
        run_preview,
        "What the gateway would do with this message at this instant (nothing is stored or "
        "sent); therapists preview messages from their own clients",
        EVERYONE,
        {200: Reply("The decision", preview_service.PreviewResult)},
        body=PreviewBody,
    ),
)
