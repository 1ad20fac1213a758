"""The OpenAPI document matches the router, and schemathesis finds no 500 anywhere in it."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Err
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from gateway.http.api.routes import all_operations
from gateway.http.api.spec import THERAPIST
from tests.integration.api.conftest import Api, Client, Tokens
from tests.integration.conftest import LEE_NUMBER, RILEY
from tests.support.twilio_client import send_sms

METHODS = {"GET", "POST", "PUT", "DELETE", "PATCH"}
EXAMPLES_PER_OPERATION = 20


def router_operations(client: Client) -> set[tuple[str, str]]:
    return {
        (route.method, route.resource.canonical)
        for route in client.app.router.routes()
        if route.resource is not None
        and route.resource.canonical.startswith("/api/v1")
        and route.method in METHODS
    }


def document_operations(document: Mapping[str, Any]) -> set[tuple[str, str]]:
    return {
        (method.upper(), path)
        for path, operations in document["paths"].items()
        for method in operations
    }


async def test_the_document_and_the_router_list_the_same_operations(
    gateway: Client, admin: Api
) -> None:
    answer = await admin.get("/openapi.json")
    assert answer.status == 200
    document = answer.json
    assert document["openapi"].startswith("3.")
    in_router = router_operations(gateway)
    in_document = document_operations(document)
    assert in_router - in_document == set(), "routes missing from the document"
    assert in_document - in_router == set(), "documented operations without a route"
    assert len(in_router) == len(all_operations()) == 12


async def test_every_reference_in_the_document_resolves(admin: Api) -> None:
    document = (await admin.get("/openapi.json")).json
    defined = set(document["components"]["schemas"])

    def references(node: object) -> list[str]:
        if isinstance(node, dict):
            found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
            return found + [ref for value in node.values() for ref in references(value)]
        if isinstance(node, list):
            return [ref for value in node for ref in references(value)]
        return []

    names = {ref.removeprefix("#/components/schemas/") for ref in references(document)}
    assert names
    assert names <= defined


def known_ids(operation: Any, mode: GenerationMode) -> dict[str, Any]:
    """Valid input names a therapist who exists, so that it gets past the lookup."""
    if mode == GenerationMode.POSITIVE and "/therapists/" in operation.path:
        return {"path_parameters": {"id": "lee"}}
    return {}


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


def examples_for(
    operation: Any,
    mode: GenerationMode,
    base_url: str,
    headers: dict[str, str],
    statuses: Counter[int],
) -> Callable[[], None]:
    """A hypothesis test of one operation: bounded, derandomized, and not shrunk (a failure
    is reported as found, so a run never outlasts its examples)."""

    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode, **known_ids(operation, mode)))
    def run(case: Any) -> None:
        response = case.call(base_url=base_url, headers=headers, timeout=10)
        statuses[response.status_code] += 1
        case.validate_response(response, checks=CHECKS)

    return run


def fuzz(
    base_url: str, document: dict[str, Any], token_for: Callable[[str], str]
) -> tuple[list[str], Counter[int]]:
    """Runs every operation with generated valid and invalid input; returns what failed and
    the statuses seen."""
    schema = schemathesis.openapi.from_dict(document)
    failures: list[str] = []
    statuses: Counter[int] = Counter()
    for result in schema.get_all_operations():
        if isinstance(result, Err):
            failures.append(f"unusable operation in the document: {result.err()}")
            continue
        operation = result.ok()
        headers = {"Authorization": f"Bearer {token_for(operation.label)}"}
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            try:
                examples_for(operation, mode, base_url, headers, statuses)()
            except Exception as exc:  # noqa: BLE001 - collected and reported all at once
                failures.append(f"{operation.label} ({mode.value}): {exc}")
    return failures, statuses


@pytest.mark.slow
async def test_schemathesis_finds_no_server_errors(
    gateway: Client, admin: Api, tokens: Tokens
) -> None:
    await send_sms(gateway, RILEY, LEE_NUMBER, "so there is a message to read")
    document = (await admin.get("/openapi.json")).json
    therapist_only = {
        f"{operation.method} {operation.full_path}"
        for operation in all_operations()
        if operation.roles == THERAPIST
    }

    def token_for(label: str) -> str:
        return tokens.lee if label in therapist_only else tokens.admin

    base_url = str(gateway.make_url("")).rstrip("/")
    # The test server runs on this event loop; schemathesis calls it with blocking requests.
    failures, statuses = await asyncio.wait_for(
        asyncio.to_thread(fuzz, base_url, document, token_for), timeout=300
    )
    assert failures == []
    assert statuses[200] + statuses[201] + statuses[204] > 50
    assert statuses[400] > 50
    assert sum(statuses.values()) > 12 * EXAMPLES_PER_OPERATION
