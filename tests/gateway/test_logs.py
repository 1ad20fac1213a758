"""No message body, phone number or name reaches a log line, whatever goes wrong."""

from __future__ import annotations

import asyncio
import json
import logging

import pytest
import structlog
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from gateway.logs import AccessLogger, configure_logging

BODY = "i want to end it tonight, the pills are ready"
PHONE = "+15557654321"
NAME = "Jordan D."


def _raise_with_phi() -> None:
    body = BODY  # a local that a traceback with locals would show
    raise ValueError(f"could not route {PHONE} for {NAME}: {body}")


def test_an_exception_about_a_message_leaves_no_phi_in_json_logs(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging("json")
    log = structlog.get_logger("gateway.test")
    try:
        _raise_with_phi()
    except ValueError:
        log.exception("inbound_failed", message_id="m1", body=BODY, from_=PHONE, name=NAME)
    err = capsys.readouterr().err
    for secret in (BODY, PHONE, "5557654321", NAME, "pills"):
        assert secret not in err
    event = json.loads(err.strip().splitlines()[-1])
    assert event["event"] == "inbound_failed"
    assert event["message_id"] == "m1"
    assert event["error_trace"][0]["type"] == "ValueError"
    assert event["body"] == "[redacted]"


def test_row_ids_and_sids_stay_whole_though_they_hold_digits(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging("json")
    row_id = "011b1858dd2e4933ab80aa5557654321"
    sid = "SM0123456789abcdef0123456789abcdef"
    structlog.get_logger("gateway.test").info("outbox_sent", outbox_id=row_id, sid=sid, to=PHONE)
    event = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
    assert (event["outbox_id"], event["sid"]) == (row_id, sid)
    assert event["to"] == "[redacted]"


def test_times_and_paths_with_ids_stay_whole_and_phones_in_them_do_not(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging("json")
    at = "2026-12-01T09:00:00+00:00"
    path = "/api/v1/messages/011b1858dd2e4933ab80aa5557654321"
    structlog.get_logger("gateway.test").info(
        "outbox_rescheduled", deliver_at=at, route=f"{path}?to={PHONE}"
    )
    event = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
    assert event["deliver_at"] == at
    assert event["route"] == f"{path}?to=[number]"


def test_console_logs_drop_phi_too(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("console")
    try:
        _raise_with_phi()
    except ValueError:
        structlog.get_logger("gateway.test").error(
            "send_failed", exc_info=True, error=f"to {PHONE}"
        )
    err = capsys.readouterr().err
    assert "send_failed" in err
    for secret in (BODY, PHONE, "5557654321", NAME):
        assert secret not in err


def test_standard_library_loggers_pass_the_same_filter(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("json")
    logging.getLogger("aiohttp.server").error("Error handling request from %s", PHONE)
    logging.getLogger("twilio.http_client").info(
        "POST Request: https://api.twilio.com/?To=%s", PHONE
    )
    err = capsys.readouterr().err
    assert PHONE not in err
    assert "5557654321" not in err
    assert "Error handling request" in err
    assert "twilio" not in err  # twilio's INFO request lines are silenced


async def test_access_lines_name_the_route_never_the_path_as_sent(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A probing or mistyped path can hold a name or a message's words."""
    configure_logging("json")

    async def one(request: web.Request) -> web.Response:
        return web.json_response({})

    app = web.Application()
    app.router.add_get("/api/v1/messages/{id}", one)
    server = TestServer(app)
    await server.start_server(access_log_class=AccessLogger)
    async with TestClient(server) as client:
        for path in ("/api/v1/messages/Marigold%20Thistlewaite", "/i%20want%20to%20end%20it"):
            await client.get(path)
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    requests = [line for line in lines if line["event"] == "http_request"]
    assert [(line["route"], line["status"]) for line in requests] == [
        ("/api/v1/messages/{id}", 200),
        ("(no route)", 404),
    ]
    assert not any(word in str(lines) for word in ("Marigold", "Thistlewaite", "end it"))


async def test_a_request_the_http_parser_refuses_is_logged_as_one_plain_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A bad method or a broken request line is a 400 from aiohttp itself, never routed: it
    gets its access line, not an error with a traceback."""
    configure_logging("json")
    app = web.Application()
    server = TestServer(app)
    await server.start_server(access_log_class=AccessLogger)
    try:
        for request in (b"FOO\x01 /healthz HTTP/1.1\r\n\r\n", b"GET /\xff HTTP/1.1\r\n\r\n"):
            reader, writer = await asyncio.open_connection(server.host, server.port)
            writer.write(request)
            await writer.drain()
            status_line = await asyncio.wait_for(reader.readline(), timeout=10)
            writer.close()
            await writer.wait_closed()
            assert status_line.split()[1] == b"400", status_line
    finally:
        await server.close()
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert [line for line in lines if line["level"] == "error"] == []
    assert [line["route"] for line in lines if line["event"] == "http_request"] == [
        "(no route)",
        "(no route)",
    ]
