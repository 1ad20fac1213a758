"""Turning service results into JSON responses, with the same pydantic adapters that describe
them in the OpenAPI document."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from pydantic import TypeAdapter

_adapters: dict[Any, TypeAdapter[Any]] = {}


def adapter(kind: Any) -> TypeAdapter[Any]:
    """One adapter per type: building one compiles a validator and serializer."""
    found = _adapters.get(kind)
    if found is None:
        found = _adapters[kind] = TypeAdapter(kind)
    return found


def render(value: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        status=status,
        body=adapter(type(value)).dump_json(value),
        content_type="application/json",
        headers=headers,
    )
