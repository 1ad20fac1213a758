"""Every API operation, and the router built from them with each one's role check."""

from __future__ import annotations

from aiohttp import web
from aiohttp.typedefs import Handler

from gateway.api_services.errors import ForbiddenError
from gateway.http.api import (
    audit,
    availability,
    clients,
    export,
    messages,
    openapi,
    preview,
)
from gateway.http.api.auth import caller_of
from gateway.http.api.spec import Operation


def all_operations() -> tuple[Operation, ...]:
    """The API's operations, in the order the document lists them."""
    return (
        *messages.OPERATIONS,
        *clients.OPERATIONS,
        *availability.OPERATIONS,
        *audit.OPERATIONS,
        *preview.OPERATIONS,
        *export.OPERATIONS,
        _OPENAPI,
    )


_OPENAPI = openapi.operation(all_operations)


def _role_checked(operation: Operation) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        caller = caller_of(request)
        if caller.role not in operation.roles:
            raise ForbiddenError(
                f"this route is for {' and '.join(sorted(operation.roles))} tokens"
            )
        return await operation.handler(request)

    handler.__name__ = operation.operation_id
    return handler


def add_routes(app: web.Application) -> None:
    for operation in all_operations():
        app.router.add_route(
            operation.method, operation.full_path, _role_checked(operation), name=None
        )
