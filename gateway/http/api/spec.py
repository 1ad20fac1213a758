"""One API operation described once: the router is built from these and so is the OpenAPI
document, so the two cannot disagree."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from aiohttp.typedefs import Handler
from pydantic import BaseModel

from gateway.tokens import Role

PREFIX: Final = "/api/v1"
JSON: Final = "application/json"
ADMIN: Final[frozenset[Role]] = frozenset({"admin"})
THERAPIST: Final[frozenset[Role]] = frozenset({"therapist"})
EVERYONE: Final[frozenset[Role]] = frozenset({"admin", "therapist"})


@dataclass(frozen=True, slots=True)
class Reply:
    description: str
    # The type whose JSON the body is (a dataclass or pydantic model); None for no body, or
    # for a text body in `media_types`.
    model: Any = None
    media_types: tuple[str, ...] = (JSON,)


@dataclass(frozen=True, slots=True)
class Operation:
    method: str
    path: str  # below PREFIX, with {placeholders}
    handler: Handler
    summary: str
    roles: frozenset[Role]
    replies: Mapping[int, Reply]
    query: type[BaseModel] | None = None
    body: type[BaseModel] | None = None
    # Error statuses this operation can answer besides those every operation can.
    errors: tuple[int, ...] = field(default=())

    @property
    def full_path(self) -> str:
        return PREFIX + self.path

    @property
    def operation_id(self) -> str:
        return self.handler.__name__
