"""Every API route wants an active token of the right role, and says so in JSON."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from aiohttp import web
from structlog.testing import capture_logs

from gateway.http.api.routes import all_operations
from gateway.http.api.spec import ADMIN, THERAPIST, Operation
from gateway.settings import Settings
from tests.integration.api.conftest import Api, Client, Tokens, issue_token
from tests.integration.conftest import make_app, table_rows
from tests.support.clock import FixedClock

SOME_ID = "0" * 32
OPERATIONS = all_operations()


def concrete_path(operation: Operation, therapist: str = "lee") -> str:
    return operation.path.replace("{id}", therapist if "therapists" in operation.path else SOME_ID)


def label(operation: Operation) -> str:
    return f"{operation.method} {operation.path}"


async def refused_everywhere(api: Api) -> None:
    for operation in OPERATIONS:
        answer = await api.call(
            operation.method, concrete_path(operation).replace("{entry}", SOME_ID)
        )
        assert answer.status == 401, label(operation)
        assert answer.json["error"]["code"] == "unauthorized", label(operation)
        assert answer.headers["WWW-Authenticate"] == "Bearer"


async def test_every_route_refuses_a_missing_token(gateway: Client) -> None:
    await refused_everywhere(Api(gateway, None))


@pytest.mark.parametrize(
    "header",
    ["Bearer", "Bearer ", "Basic YWRtaW46YWRtaW4=", "bgw_abc", "Token bgw_abc"],
)
async def test_every_route_refuses_a_malformed_authorization_header(
    gateway: Client, header: str
) -> None:
    for operation in OPERATIONS:
        path = "/api/v1" + concrete_path(operation).replace("{entry}", SOME_ID)
        response = await gateway.request(operation.method, path, headers={"Authorization": header})
        assert response.status == 401, label(operation)


async def test_every_route_refuses_a_wrong_token(gateway: Client, tokens: Tokens) -> None:
    await refused_everywhere(Api(gateway, "bgw_0123456789abcdef_notasecret"))
    await refused_everywhere(Api(gateway, tokens.admin + "x"))
    await refused_everywhere(Api(gateway, "x" * 5000))


async def test_every_route_refuses_a_revoked_token(
    gateway: Client, imported: Settings, clock: FixedClock
) -> None:
    revoked = await issue_token(imported, clock.at, role="admin", revoked=True)
    await refused_everywhere(Api(gateway, revoked))


async def test_every_route_refuses_an_expired_token(
    gateway: Client, imported: Settings, clock: FixedClock
) -> None:
    token = await issue_token(
        imported, clock.at, role="admin", expires_at=clock.at + timedelta(minutes=5)
    )
    assert (await Api(gateway, token).get("/clients")).status == 200
    clock.advance(timedelta(minutes=5))
    await refused_everywhere(Api(gateway, token))


async def test_every_route_refuses_the_token_of_a_therapist_no_longer_in_the_practice(
    gateway: Client, imported: Settings, clock: FixedClock
) -> None:
    """As after `gateway import --prune` removed the therapist: their tokens go with them."""
    token = await issue_token(imported, clock.at, role="therapist", therapist_id="retired")
    await refused_everywhere(Api(gateway, token))


async def test_admin_routes_refuse_therapists(lee: Api) -> None:
    admin_only = [operation for operation in OPERATIONS if operation.roles == ADMIN]
    assert {label(operation) for operation in admin_only} == {"GET /audit", "GET /export"}
    for operation in admin_only:
        answer = await lee.call(operation.method, operation.path, params={"reason": "audit"})
        assert answer.status == 403, label(operation)
        assert answer.json["error"]["code"] == "forbidden"


async def test_sending_a_message_is_for_therapists_only(admin: Api) -> None:
    therapist_only = [operation for operation in OPERATIONS if operation.roles == THERAPIST]
    assert {label(operation) for operation in therapist_only} == {"POST /messages"}
    answer = await admin.post("/messages", {"client": "c1002", "body": "hello"})
    assert answer.status == 403


async def test_a_therapist_cannot_touch_another_therapists_availability(
    lee: Api, okafor: Api
) -> None:
    availability = [o for o in OPERATIONS if o.path.startswith("/therapists/")]
    assert len(availability) == 4
    bodies = {
        "PUT": {"hours": {"mon": ["09:00-17:00"]}},
        "POST": {"start": "2027-01-04", "end": "2027-01-05"},
    }
    for operation in availability:
        path = concrete_path(operation, therapist="okafor").replace("{entry}", SOME_ID)
        answer = await lee.call(operation.method, path, json=bodies.get(operation.method))
        assert answer.status == 403, label(operation)
    assert (await okafor.get("/therapists/okafor/hours")).status == 200


async def test_the_token_check_leaves_other_routes_alone(gateway: Client) -> None:
    assert (await gateway.get("/healthz")).status == 200
    assert (await gateway.get("/api/v2/messages")).status == 404


async def test_a_refusal_for_the_callers_role_is_audited(
    lee: Api, tokens: Tokens, imported: Settings
) -> None:
    answer = await lee.get("/audit")
    assert answer.status == 403
    denials = [
        row for row in await table_rows(imported, "audit_events") if row.action == "access_denied"
    ]
    assert len(denials) == 1
    token_id = tokens.lee.removeprefix("bgw_").split("_")[0]
    assert denials[0].actor == f"token:{token_id}"
    assert denials[0].subject == "/api/v1/audit"


async def test_a_token_with_bytes_that_are_not_utf8_is_refused_not_a_500(gateway: Client) -> None:
    server = gateway.server
    for token in (b"bgw_\xff", b"bgw_0c8f166c24a641ec_\xff\xfe"):
        reader, writer = await asyncio.open_connection(server.host, server.port)
        writer.write(
            b"GET /api/v1/clients HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
            b"Authorization: Bearer " + token + b"\r\n\r\n"
        )
        await writer.drain()
        status_line = await asyncio.wait_for(reader.readline(), timeout=10)
        writer.close()
        await writer.wait_closed()
        assert status_line.split()[1] == b"401", status_line


async def test_a_body_cut_short_by_the_client_is_not_taken_for_a_database_outage(
    imported: Settings, clock: FixedClock, tokens: Tokens
) -> None:
    """Served as `gateway serve` serves (no handler cancellation, unlike the test client's
    server): the client gives up halfway through its body."""
    runner = web.AppRunner(make_app(imported, clock))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    [(host, port)] = runner.addresses  # the port the system chose
    try:
        with capture_logs() as events:
            _, writer = await asyncio.open_connection(host, port)
            writer.write(
                b"POST /api/v1/messages HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                b"Authorization: Bearer " + tokens.lee.encode() + b"\r\n"
                b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n"
                b'{"client": "c1'
            )
            await writer.drain()
            writer.close()
            await writer.wait_closed()
            for _ in range(100):  # until the server notices the closed connection
                if any(event["event"] == "request_abandoned" for event in events):
                    break
                await asyncio.sleep(0.05)
    finally:
        await runner.cleanup()
    names = [event["event"] for event in events]
    assert "request_abandoned" in names, names
    assert "api_database_unavailable" not in names
