"""Every log event of a request carries its request id."""

from __future__ import annotations

import re
import uuid
from typing import Final

import structlog
from aiohttp import web
from aiohttp.typedefs import Handler

HEADER: Final = "X-Request-Id"
# A caller's id is kept only when it looks like one: it goes into every log line.
_USABLE = re.compile(r"[A-Za-z0-9._-]{8,64}")


@web.middleware
async def request_id_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    offered = request.headers.get(HEADER, "")
    request_id = offered if _USABLE.fullmatch(offered) else uuid.uuid4().hex
    with structlog.contextvars.bound_contextvars(request_id=request_id):
        response = await handler(request)
    response.headers[HEADER] = request_id
    return response
