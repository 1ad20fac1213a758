"""Structured logging that cannot carry health information.

Every event passes an allow-list of keys: any other key keeps its name but loses its value.
Strings that look like phone numbers are masked, exception messages are dropped (only
types and frames are kept) and tracebacks never show locals, so a message body or a phone
number that slips into an exception still never reaches a log line.
"""

from __future__ import annotations

import logging
import re
import sys
from http import HTTPStatus
from typing import Final

import structlog
from aiohttp.abc import AbstractAccessLogger
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.web import BaseRequest, StreamResponse
from structlog.tracebacks import ExceptionDictTransformer
from structlog.types import EventDict, Processor, WrappedLogger

from gateway.settings import LogFormat

SAFE_KEYS: Final = frozenset(
    {
        "event",
        "level",
        "timestamp",
        "logger",
        "request_id",
        "method",
        "route",
        "status",
        "duration_ms",
        "message_id",
        "message_sid",
        "outbox_id",
        "sid",
        "kind",
        "rule",
        "flags",
        "therapist_id",
        "client_id",
        "token_id",
        "role",
        "code",
        "error",
        "error_type",
        "attempt",
        "retry_in",
        "count",
        "batch",
        "seq",
        "version",
        "host",
        "port",
        "worker",
        "error_trace",
        "dry_run",
        "env",
        "database",
        "reason_code",
        "spooled",
        "migrated",
        "deliver_at",
        "due_at",
        "priority",
        "pending",
        "key_id",
        "table",
    }
)
# Values the pipeline writes itself, never from a caller: left whole.
_UNMASKED_KEYS: Final = frozenset({"timestamp", "level", "logger", "error_trace", "host", "port"})
REDACTED: Final = "[redacted]"
# Seven or more digits, optionally behind a plus and with separators: phone-number shaped.
_PHONE_LIKE: Final = re.compile(r"\+?\d[\d\s().-]{5,}\d")
# Our row ids (32 hex digits) and Twilio SIDs (two letters, 32 hex digits) can hold a run of
# digits, but no phone number is 32 digits long: they stay whole, so log lines can be matched
# to rows.
_IDENTIFIER: Final = re.compile(r"(?:[A-Z]{2,3})?[0-9a-f]{32}")
# Kept whole inside a longer value too: identifiers (a path that names a message) and ISO 8601
# dates and times ("2026-12-01T09:00:00+00:00"), which no phone number looks like.
_KEPT: Final = re.compile(
    r"(?<![0-9a-f])(?:[A-Z]{2,3})?[0-9a-f]{32}(?![0-9a-f])"
    r"|\b(?:19|20)\d{2}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12]\d|3[01])"
    r"(?:T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:\d{2})?)?(?![\d-])"
)


def _mask_text(text: str) -> str:
    masked, last = [], 0
    for kept in _KEPT.finditer(text):
        masked += [_PHONE_LIKE.sub("[number]", text[last : kept.start()]), kept.group()]
        last = kept.end()
    masked.append(_PHONE_LIKE.sub("[number]", text[last:]))
    return "".join(masked)


def _mask(value: object) -> object:
    if isinstance(value, str):
        if _IDENTIFIER.fullmatch(value):
            return value
        return _mask_text(value)
    if isinstance(value, list | tuple):
        return [_mask(item) for item in value]
    return value


def drop_unsafe_values(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    """Keep values only under allow-listed keys; mask phone-shaped strings everywhere."""
    for key in list(event_dict):
        if key in _UNMASKED_KEYS:
            continue
        if key in SAFE_KEYS:
            event_dict[key] = _mask(event_dict[key])
        else:
            event_dict[key] = REDACTED
    return event_dict


_format_exception = ExceptionDictTransformer(show_locals=False)


def exceptions_without_messages(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    """Replace exc_info by exception types and frames; the message text is dropped."""
    exc_info = event_dict.pop("exc_info", None)
    if not exc_info:
        return event_dict
    if exc_info is True:
        exc_info = sys.exc_info()
    elif isinstance(exc_info, BaseException):
        exc_info = (type(exc_info), exc_info, exc_info.__traceback__)
    if not isinstance(exc_info, tuple) or exc_info[0] is None:
        return event_dict
    chain = _format_exception(exc_info)
    event_dict["error_trace"] = [
        {
            "type": stack["exc_type"],
            "frames": [
                f"{frame['filename']}:{frame['lineno']} {frame['name']}"
                for frame in stack["frames"]
            ],
        }
        for stack in chain
    ]
    return event_dict


def _shared_processors() -> list[Processor]:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        exceptions_without_messages,
        drop_unsafe_values,
    ]


def _renderer(log_format: LogFormat) -> Processor:
    if log_format == "json":
        return structlog.processors.JSONRenderer()
    return structlog.dev.ConsoleRenderer(
        colors=False, exception_formatter=structlog.dev.plain_traceback
    )


def configure_logging(log_format: LogFormat, level: int = logging.INFO) -> None:
    """Route structlog and the standard library (aiohttp, twilio, alembic) through one pipeline."""
    shared = _shared_processors()
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *shared,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[structlog.stdlib.ExtraAdder(), *shared],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            _renderer(log_format),
        ],
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    # A record that fails to format must not be printed with its arguments by logging itself.
    logging.raiseExceptions = False
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # twilio logs request URLs (with numbers in their query strings) at INFO.
    logging.getLogger("twilio").setLevel(logging.WARNING)
    # aiohttp's own access line contains the query string; AccessLogger below replaces it.
    logging.getLogger("aiohttp.access").setLevel(logging.INFO)
    server_log = logging.getLogger("aiohttp.server")
    if not any(isinstance(f, _RefusedRequests) for f in server_log.filters):
        server_log.addFilter(_RefusedRequests())


class _RefusedRequests(logging.Filter):
    """A request aiohttp's parser refused (a broken request line, header or encoding) is
    answered 400 and logged by aiohttp as an error with a traceback. It is the client's
    mistake, common on a public port: one line at info level, naming the kind of mistake."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, HttpProcessingError) and error.code == HTTPStatus.BAD_REQUEST:
            record.levelno, record.levelname = logging.INFO, "INFO"
            record.msg, record.args = "http_request_refused: %s", (type(error).__name__,)
            record.exc_info, record.exc_text = None, None
        return True


def route_of(request: BaseRequest) -> str:
    """The template of the route that took the request (`/api/v1/messages/{id}`), never the
    path as sent: a mistyped or probing path can carry a name or a message's words."""
    # Not `request.match_info`: it asserts, and a request the HTTP parser refused (a bad
    # method, an oversized header) was never routed.
    match_info = getattr(request, "_match_info", None)
    resource = match_info.route.resource if match_info is not None else None
    return resource.canonical if resource is not None else "(no route)"


class AccessLogger(AbstractAccessLogger):
    """One access event per request: method, route, status and duration."""

    def __init__(self, logger: logging.Logger, log_format: str) -> None:
        super().__init__(logger, log_format)
        # Bound once: a lazy proxy would build a new logger for every request.
        self._events = structlog.get_logger("gateway.access").bind()

    def log(self, request: BaseRequest, response: StreamResponse, time: float) -> None:
        self._events.info(
            "http_request",
            method=request.method,
            route=route_of(request),
            status=response.status,
            duration_ms=round(time * 1000, 2),
        )

    @property
    def enabled(self) -> bool:
        return True
