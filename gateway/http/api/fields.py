"""Field types shared by the API's request models: each refuses bad input with a message
that names the rule and never echoes the value."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Final, Literal, get_args

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainValidator,
    WithJsonSchema,
)

from gateway.api_services.instants import parse_instant
from gateway.api_services.paging import MAX_LIMIT
from rules.keywords import visible

IDENTIFIER_PATTERN: Final = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
SINCE: Final = "From this instant on (inclusive); ISO 8601 with an offset"
UNTIL: Final = "Before this instant (exclusive); ISO 8601 with an offset"
# C0 controls and DEL; a body may still hold line breaks and tabs.
_CONTROL: Final = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
# Twilio's limit counts UTF-16 code units: an emoji takes two.
_MAX_SMS_UNITS: Final = 1600
_LINE_BREAK: Final = re.compile(r"[\t\n\r]")


def storable_text_problem(text: str) -> str | None:
    """What keeps `text` from being stored as it is, or None (the API and the web pages)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "is not valid Unicode text"
    if _CONTROL.search(text):
        return "holds control characters"
    return None


def _storable(text: str) -> str:
    problem = storable_text_problem(text)
    if problem is not None:
        raise ValueError(problem)
    return text


def sms_text_problem(text: str) -> str | None:
    """What keeps `text` from being sent as one SMS, or None (the API and the web pages)."""
    if _CONTROL.search(text):
        return "holds control characters"
    if not visible(text):
        return "has nothing to read (only spaces or invisible characters)"
    if len(text.encode("utf-16-le")) // 2 > _MAX_SMS_UNITS:
        return f"is longer than an SMS may be ({_MAX_SMS_UNITS} characters, emoji count two)"
    return None


def _sms_text(text: str) -> str:
    problem = sms_text_problem(text)
    if problem is not None:
        raise ValueError(problem)
    return text


def _one_line(text: str) -> str:
    text = _storable(text).strip()
    if _LINE_BREAK.search(text):
        raise ValueError("must be a single line")
    if not text:
        raise ValueError("must not be blank")
    return text


Identifier = Annotated[str, Field(pattern=IDENTIFIER_PATTERN)]
Instant = Annotated[
    datetime,
    PlainValidator(parse_instant),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]
Limit = Annotated[int, Field(ge=1, le=MAX_LIMIT, description="Items per page, 1 to 1000")]
Cursor = Annotated[
    str,
    Field(
        min_length=1,
        max_length=200,
        pattern=r"^[A-Za-z0-9_-]+$",
        description="The `next` of the previous page",
    ),
]
Reason = Annotated[str, Field(min_length=1, max_length=500), AfterValidator(_one_line)]


def _blank_is_none(value: object) -> object:
    return None if isinstance(value, str) and not value.strip() else value


# Where a reason is optional, an empty one is none given (forms and clients send "").
OptionalReason = Annotated[Reason | None, BeforeValidator(_blank_is_none)]
Note = Annotated[str, Field(max_length=200), AfterValidator(_storable)]
# The flags a message can carry; filtering by any other is a mistake worth a 400.
Flag = Literal["crisis", "after_hours", "unknown_sender", "opt_out"]
FLAGS: Final[tuple[Flag, ...]] = get_args(Flag)
SmsText = Annotated[
    str, Field(min_length=1, max_length=1600), AfterValidator(_storable), AfterValidator(_sms_text)
]
Address = Annotated[str, Field(min_length=1, max_length=32), AfterValidator(_one_line)]


class QueryModel(BaseModel):
    """Query parameters arrive as text, so numbers are converted; unknown names are refused
    so that a misspelt filter cannot quietly widen a list."""

    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)


class BodyModel(BaseModel):
    """JSON bodies are taken as typed: "true" is not a boolean, "5" not a number."""

    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True, strict=True)
