"""Every failure under /api/v1 becomes `{"error": {"code", "message"}}` here, in one place.

Bad input is a 4xx with a message that says what to fix; a database that is away is a 503;
anything else is a bare 500 without a trace. Messages come from our own code or pydantic's
error kinds, never from the input itself, so nothing a client sent is echoed back or logged.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

import structlog
from aiohttp import web
from aiohttp.typedefs import Handler
from pydantic import TypeAdapter, ValidationError
from sqlalchemy.exc import SQLAlchemyError

from gateway.api_services.errors import (
    ApiError,
    ConflictError,
    ForbiddenError,
    InvalidInputError,
    NotFoundError,
    UnauthorizedError,
    UnavailableError,
)
from gateway.http.api.spec import PREFIX
from gateway.logs import route_of

log = structlog.get_logger(__name__)

STATUS: Final[Mapping[type[ApiError], int]] = {
    InvalidInputError: 400,
    UnauthorizedError: 401,
    ForbiddenError: 403,
    NotFoundError: 404,
    ConflictError: 409,
    UnavailableError: 503,
}
_HTTP_CODES: Final = {
    400: "invalid_input",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    503: "unavailable",
}


@dataclass(frozen=True, slots=True)
class ErrorDetail:
    code: str
    message: str


@dataclass(frozen=True, slots=True)
class ErrorBody:
    error: ErrorDetail


_ERROR_JSON = TypeAdapter(ErrorBody)


def is_api_path(path: str) -> bool:
    return path == PREFIX or path.startswith(PREFIX + "/")


def error_response(
    status: int, code: str, message: str, headers: Mapping[str, str] | None = None
) -> web.Response:
    return web.Response(
        status=status,
        body=_ERROR_JSON.dump_json(ErrorBody(ErrorDetail(code, message))),
        content_type="application/json",
        headers=headers,
    )


def validation_message(error: ValidationError) -> str:
    """ "since: has no UTC offset; ..." for each problem, from pydantic's kinds of error."""
    problems = []
    for item in error.errors(include_url=False, include_input=False, include_context=False):
        where = ".".join(str(part) for part in item["loc"])
        what = item["msg"].removeprefix("Value error, ")
        problems.append(f"{where}: {what}" if where else what)
    return "; ".join(problems) or "invalid input"


def _from_http(exc: web.HTTPException) -> web.Response:
    headers = {"Allow": exc.headers["Allow"]} if "Allow" in exc.headers else None
    message = {
        404: "no such API route",
        405: "method not allowed on this route",
        413: "request body too large",
    }.get(exc.status, exc.reason)
    return error_response(exc.status, _HTTP_CODES.get(exc.status, "error"), message, headers)


def client_gone(request: web.BaseRequest) -> bool:
    """Whether the client closed its connection, as when it gives up halfway through its
    body: the error reading it is the client's doing, not a database outage."""
    transport = request.transport
    return transport is None or transport.is_closing()


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    if not is_api_path(request.path):
        return await handler(request)
    try:
        return await handler(request)
    except ApiError as problem:
        status = STATUS.get(type(problem), 400)
        headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
        return error_response(status, problem.code, problem.message, headers)
    except ValidationError as invalid:
        return error_response(400, "invalid_input", validation_message(invalid))
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return _from_http(exc)
    except (SQLAlchemyError, OSError, TimeoutError) as exc:
        if isinstance(exc, OSError) and client_gone(request):
            log.info("request_abandoned", route=route_of(request))
            return error_response(400, "invalid_input", "the request was cut short")
        log.warning(
            "api_database_unavailable", route=route_of(request), error_type=type(exc).__name__
        )
        return error_response(503, "unavailable", "the database is unavailable; try again")
    except Exception as exc:  # noqa: BLE001 - a bug must still answer JSON without a trace
        log.error("api_failed", route=route_of(request), error_type=type(exc).__name__)
        return error_response(500, "internal", "internal error")
