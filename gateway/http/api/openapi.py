"""The OpenAPI 3.1 document, generated from the same operations and pydantic types that the
router and the handlers use."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable
from typing import Any, Final

from aiohttp import web
from pydantic.json_schema import GenerateJsonSchema

from gateway.http.api.errors import ErrorBody
from gateway.http.api.rendering import adapter
from gateway.http.api.spec import EVERYONE, JSON, Operation, Reply

_PLACEHOLDER: Final = re.compile(r"{([^}]+)}")
_COMPONENTS: Final = "#/components/schemas/{model}"
# What any operation may answer: bad input, no or wrong token, wrong role or another
# therapist's resource, an id that does not exist, a body over 64 KiB, the database away.
COMMON_ERRORS: Final = {
    400: "Invalid input; the message says what to fix",
    401: "Missing, unknown, revoked or expired token",
    403: "Outside the caller's role or therapist",
    404: "No such resource (or another therapist's)",
    413: "Request body too large",
    503: "No practice imported yet, or the database is unavailable",
}
EXTRA_ERRORS: Final = {409: "Conflicts with the client's state (opted out, no contact time)"}


def _without_null(schema: dict[str, Any]) -> dict[str, Any]:
    """Query parameters are absent rather than null."""
    options = schema.get("anyOf")
    if isinstance(options, list):
        kept = [option for option in options if option != {"type": "null"}]
        if len(kept) == 1:
            rest = {key: value for key, value in schema.items() if key != "anyOf"}
            return {**kept[0], **rest}
    return schema


def _parameters(operation: Operation) -> list[dict[str, Any]]:
    parameters: list[dict[str, Any]] = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in _PLACEHOLDER.findall(operation.path)
    ]
    if operation.query is not None:
        schema = operation.query.model_json_schema()
        required = set(schema.get("required", ()))
        for name, field in schema["properties"].items():
            field_schema = _without_null(
                {key: value for key, value in field.items() if key != "title"}
            )
            if field_schema.get("default", ...) is None:
                del field_schema["default"]
            parameter = {"name": name, "in": "query", "required": name in required}
            if "description" in field_schema:
                parameter["description"] = field_schema.pop("description")
            parameters.append({**parameter, "schema": field_schema})
    return parameters


def _content(reply: Reply, schemas: dict[Any, Any]) -> dict[str, Any]:
    if reply.model is not None:
        return {JSON: {"schema": schemas[(reply.model, "serialization")]}}
    return {media_type: {"schema": {"type": "string"}} for media_type in reply.media_types}


def _responses(operation: Operation, schemas: dict[Any, Any]) -> dict[str, Any]:
    responses: dict[str, Any] = {}
    for status, reply in operation.replies.items():
        entry: dict[str, Any] = {"description": reply.description}
        if status != 204:
            entry["content"] = _content(reply, schemas)
        responses[str(status)] = entry
    errors = {**COMMON_ERRORS, **{s: EXTRA_ERRORS[s] for s in operation.errors}}
    for status, description in sorted(errors.items()):
        responses[str(status)] = {
            "description": description,
            "content": {JSON: {"schema": schemas[(ErrorBody, "serialization")]}},
        }
    return responses


def _roles(operation: Operation) -> str:
    if operation.roles == EVERYONE:
        return "Roles: admin, therapist."
    return f"Roles: {', '.join(sorted(operation.roles))} only."


def build_document(operations: Iterable[Operation]) -> dict[str, Any]:
    operations = tuple(operations)
    wanted: dict[tuple[Any, Any], Any] = {(ErrorBody, "serialization"): ErrorBody}
    for operation in operations:
        if operation.body is not None:
            wanted[(operation.body, "validation")] = operation.body
        for reply in operation.replies.values():
            if reply.model is not None:
                wanted[(reply.model, "serialization")] = reply.model
    unique = [(kind, mode, adapter(kind).core_schema) for kind, mode in wanted]
    schemas, definitions = GenerateJsonSchema(ref_template=_COMPONENTS).generate_definitions(unique)
    paths: dict[str, dict[str, Any]] = {}
    for operation in operations:
        entry: dict[str, Any] = {
            "operationId": operation.operation_id,
            "summary": operation.summary,
            "description": _roles(operation),
            "parameters": _parameters(operation),
            "responses": _responses(operation, schemas),
        }
        if operation.body is not None:
            entry["requestBody"] = {
                "required": True,
                "content": {JSON: {"schema": schemas[(operation.body, "validation")]}},
            }
        paths.setdefault(operation.full_path, {})[operation.method.lower()] = entry
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Boundary Gateway API",
            "version": "1",
            "description": (
                "JSON API for therapists and admins. Lists answer {items, next}, newest "
                "first, with limit (default 100, at most 1000) and cursor. Times are ISO 8601 "
                "with an offset; output is in UTC."
            ),
        },
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {
            "schemas": definitions,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }


def operation(operations: Callable[[], Iterable[Operation]]) -> Operation:
    """GET /openapi.json, documenting `operations` (itself included), built on first use."""

    @functools.cache
    def document() -> dict[str, Any]:
        return build_document(operations())

    async def openapi_document(_: web.Request) -> web.Response:
        return web.json_response(document())

    return Operation(
        "GET",
        "/openapi.json",
        openapi_document,
        "This document",
        EVERYONE,
        {200: Reply("The OpenAPI document", dict[str, Any])},
    )
