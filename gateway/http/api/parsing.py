"""Turning a request into typed values: its query, its JSON body and its path ids."""

from __future__ import annotations

import json
import re
from collections import Counter
from typing import Any, Final, TypeVar

from aiohttp import web
from pydantic import BaseModel

from gateway.api_services.context import ApiContext
from gateway.api_services.errors import InvalidInputError, NotFoundError
from gateway.http.api.fields import IDENTIFIER_PATTERN
from gateway.http.keys import RUNTIME

Model = TypeVar("Model", bound=BaseModel)

_IDENTIFIER: Final = re.compile(IDENTIFIER_PATTERN)


def context_of(request: web.Request) -> ApiContext:
    runtime = request.app[RUNTIME]
    return ApiContext(runtime.engine, runtime.vault, runtime.config, runtime.clock)


def parse_query(request: web.Request, model: type[Model]) -> Model:
    query = request.query
    repeated = sorted({key for key in query if len(query.getall(key)) > 1})
    if repeated:
        raise InvalidInputError(f"{', '.join(repeated)}: give each parameter once")
    return model.model_validate(dict(query))


async def parse_body(request: web.Request, model: type[Model]) -> Model:
    """The JSON body as `model`; an unreadable body is a 400 like any other bad input."""
    raw = await request.read()
    _refuse_repeated_keys(raw)
    return model.model_validate_json(raw or b"null")


def _refuse_repeated_keys(raw: bytes) -> None:
    """A key given twice ({"client": "a", "client": "b"}) is ambiguous: JSON parsers disagree
    on which one counts, and a reply must not go to whichever the parser picked."""

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        kept = dict(items)
        if len(kept) < len(items):
            repeated = sorted(
                key for key, count in Counter(k for k, _ in items).items() if count > 1
            )
            raise InvalidInputError(f"{', '.join(repeated)}: give each key once")
        return kept

    try:
        json.loads(raw, object_pairs_hook=pairs)
    except (ValueError, RecursionError):
        # Not JSON at all: the model's own validation says what is wrong with it.
        return


def path_id(request: web.Request, name: str, what: str) -> str:
    """An id from the path; one that cannot exist is simply not found."""
    value = request.match_info[name]
    if not _IDENTIFIER.fullmatch(value):
        raise NotFoundError(f"no such {what}")
    return value
