"""`gateway simulate` against a running gateway on 127.0.0.1, signed as Twilio signs."""

from __future__ import annotations

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from structlog.testing import capture_logs

from gateway.practice_file import parse_practice_file
from gateway.settings import Settings
from gateway.simulate import NO_REPLY, SimulatedSms, describe, post_sms
from tests.conftest import AUTH_TOKEN
from tests.integration.admin.conftest import run_cli, run_cli_beside, use_settings
from tests.integration.conftest import EXAMPLE, JORDAN, LEE_NUMBER, STRANGER, table_rows
from tests.support.ports import closed_port

Client = TestClient[web.Request, web.Application]
Capture = pytest.CaptureFixture[str]


def base_url(gateway: Client) -> str:
    return str(gateway.make_url("/")).rstrip("/")


def new_contact_reply() -> str:
    reply = parse_practice_file(EXAMPLE).practice.new_contact_reply
    assert reply is not None
    return reply


async def test_an_unknown_sender_gets_the_new_contact_reply(
    gateway: Client, imported: Settings
) -> None:
    answer = await post_sms(
        SimulatedSms(STRANGER, LEE_NUMBER, "do you take new clients?"),
        url=base_url(gateway),
        public_url=imported.public_url,
        auth_token=AUTH_TOKEN,
    )
    assert answer.status == 200
    assert describe(answer) == new_contact_reply()
    [message] = await table_rows(imported, "messages")
    assert message.sid.startswith("SM")
    assert len(message.sid) == 34
    assert message.rule == "unknown_sender"


async def test_a_client_in_hours_gets_no_reply(gateway: Client, imported: Settings) -> None:
    answer = await post_sms(
        SimulatedSms(JORDAN, LEE_NUMBER, "can we move tuesday to 3pm"),
        url=base_url(gateway),
        public_url=imported.public_url,
        auth_token=AUTH_TOKEN,
    )
    assert (answer.status, describe(answer)) == (200, NO_REPLY)


async def test_the_command_prints_the_reply_in_plain_words(
    gateway: Client, imported: Settings, monkeypatch: pytest.MonkeyPatch, capsys: Capture
) -> None:
    use_settings(imported, monkeypatch)
    argv = ("simulate", "--from", STRANGER, "--to", LEE_NUMBER, "--url", base_url(gateway))

    # Captured, so the gateway serving in this same process does not print its log lines
    # among the command's output.
    with capture_logs() as logs:
        result = await run_cli_beside(capsys, *argv, "hello, is this the practice?")
        in_hours = await run_cli_beside(
            capsys,
            "simulate",
            "--from",
            JORDAN,
            "--to",
            LEE_NUMBER,
            "--url",
            base_url(gateway),
            "hi",
        )

    assert (result.code, result.out) == (0, new_contact_reply() + "\n")
    assert (in_hours.code, in_hours.out) == (0, NO_REPLY + "\n")
    assert logs
    for secret in (STRANGER, JORDAN, "is this the practice"):
        assert secret not in repr(logs)


async def test_a_refused_signature_exits_1_with_the_status(
    gateway: Client, imported: Settings, monkeypatch: pytest.MonkeyPatch, capsys: Capture
) -> None:
    use_settings(imported, monkeypatch, TWILIO_AUTH_TOKEN="f" * 32)
    argv = ("simulate", "--from", STRANGER, "--to", LEE_NUMBER, "--url", base_url(gateway))

    result = await run_cli_beside(capsys, *argv, "hello")

    assert result.code == 1
    assert result.out == ""
    assert "the gateway answered 403" in result.err
    assert await table_rows(imported, "messages") == []


def test_an_unreachable_gateway_exits_1(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: Capture
) -> None:
    use_settings(settings, monkeypatch)
    url = f"http://127.0.0.1:{closed_port()}"
    result = run_cli(capsys, "simulate", "--from", STRANGER, "--to", LEE_NUMBER, "--url", url, "x")
    assert result.code == 1
    assert f"could not reach {url}" in result.err
