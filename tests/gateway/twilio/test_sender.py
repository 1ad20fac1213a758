from __future__ import annotations

import asyncio
import gc
import io
import logging
import warnings
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from structlog.testing import capture_logs

from gateway.clock import SystemClock
from gateway.twilio.dry_run import DryRunSender
from gateway.twilio.sender import (
    OutboundSms,
    ReconciliationError,
    ReconciliationRefusedError,
    Rejected,
    RetryLater,
    Sent,
    SmsSender,
    TwilioRestSender,
    Unknown,
    is_final,
)
from tests.fakes.twilio_api import FakeTwilio
from tests.support.ports import closed_port

PRACTICE = "+15550009999"
CLIENT = "+15557654321"
BODY = "I had a rough night and need to talk about the session"
CALLBACK = "http://127.0.0.1:8080/twilio/status"


def sms(to: str = CLIENT, body: str = BODY) -> OutboundSms:
    return OutboundSms(from_number=PRACTICE, to_number=to, body=body, status_callback=CALLBACK)


@pytest.fixture
async def fake() -> AsyncIterator[FakeTwilio]:
    async with FakeTwilio() as running:
        yield running


@pytest.fixture
async def sender(fake: FakeTwilio) -> AsyncIterator[TwilioRestSender]:
    async with TwilioRestSender(
        fake.account_sid, fake.auth_token, api_url=fake.url, timeout=2.0
    ) as rest:
        yield rest


def test_both_senders_satisfy_the_protocol() -> None:
    senders: list[SmsSender] = [TwilioRestSender("AC", "token"), DryRunSender()]
    assert len(senders) == 2


def test_outbound_sms_repr_hides_numbers_and_body() -> None:
    text = repr(sms())
    assert CLIENT[-4:] not in text
    assert PRACTICE[-4:] not in text
    assert "rough" not in text
    assert str(sms()) == text


async def test_accepted_message_is_sent_with_the_fakes_sid(
    fake: FakeTwilio, sender: TwilioRestSender
) -> None:
    outcome = await sender.send(sms())

    [message] = fake.messages
    assert outcome == Sent(sid=message.sid)
    assert message.sid.startswith("SM")
    assert (message.to, message.from_, message.body) == (CLIENT, PRACTICE, BODY)
    assert message.status_callback == CALLBACK
    assert is_final(outcome)


async def test_opted_out_recipient_is_rejected_and_not_retried(
    fake: FakeTwilio, sender: TwilioRestSender
) -> None:
    fake.opt_out(CLIENT)

    outcome = await sender.send(sms())

    assert isinstance(outcome, Rejected)
    assert (outcome.code, outcome.status) == (21610, 400)
    assert fake.post_attempts == 1
    assert fake.messages == []


async def test_invalid_number_is_rejected_without_quoting_it(
    fake: FakeTwilio, sender: TwilioRestSender
) -> None:
    outcome = await sender.send(sms(to="5557654321"))

    assert isinstance(outcome, Rejected)
    assert (outcome.code, outcome.status) == (21211, 400)
    assert "5557654321" not in outcome.reason


async def test_server_error_is_retry_later_after_a_single_post(
    fake: FakeTwilio, sender: TwilioRestSender
) -> None:
    fake.fail_next(1, status=500)

    outcome = await sender.send(sms())

    assert isinstance(outcome, RetryLater)
    assert fake.post_attempts == 1
    assert fake.messages == []
    assert not is_final(outcome)


async def test_too_many_requests_honours_retry_after(
    fake: FakeTwilio, sender: TwilioRestSender
) -> None:
    fake.fail_next(1, status=429, retry_after=7)

    outcome = await sender.send(sms())

    assert outcome == RetryLater(reason="http 429", retry_after=7.0)
    assert fake.post_attempts == 1


async def test_refused_connection_is_retry_later() -> None:
    async with TwilioRestSender(
        "AC" + "0" * 32, "token", api_url=f"http://127.0.0.1:{closed_port()}", timeout=2.0
    ) as rest:
        outcome = await rest.send(sms())

    assert isinstance(outcome, RetryLater)
    assert "before the request was sent" in outcome.reason


async def test_slow_answer_is_unknown_and_found_by_reconciliation(fake: FakeTwilio) -> None:
    fake.delay_next(1, seconds=3.0, record=True)
    since = SystemClock().now()
    async with TwilioRestSender(
        fake.account_sid, fake.auth_token, api_url=fake.url, timeout=0.2
    ) as rest:
        outcome = await rest.send(sms())
        assert isinstance(outcome, Unknown)

        found = await rest.find_sent(sms(), since)

    [message] = fake.messages
    assert found == message.sid
    assert fake.post_attempts == 1


async def test_server_that_hangs_up_after_the_request_is_unknown() -> None:
    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.close()
        await writer.wait_closed()

    server = await asyncio.start_server(hang_up, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        async with TwilioRestSender(
            "AC" + "0" * 32, "token", api_url=f"http://127.0.0.1:{port}", timeout=2.0
        ) as rest:
            outcome = await rest.send(sms())
    finally:
        server.close()
        await server.wait_closed()

    assert isinstance(outcome, Unknown)


async def test_reconciliation_finds_nothing_for_a_message_never_sent(
    fake: FakeTwilio, sender: TwilioRestSender
) -> None:
    since = SystemClock().now()
    await sender.send(sms(body="another text"))

    assert await sender.find_sent(sms(), since) is None


async def test_reconciliation_ignores_messages_from_before_since(
    fake: FakeTwilio, sender: TwilioRestSender
) -> None:
    await sender.send(sms())

    later = SystemClock().now() + timedelta(minutes=5)
    assert await sender.find_sent(sms(), later) is None


async def test_reconciliation_that_cannot_ask_twilio_raises() -> None:
    async with TwilioRestSender(
        "AC" + "0" * 32, "token", api_url=f"http://127.0.0.1:{closed_port()}", timeout=2.0
    ) as rest:
        with pytest.raises(ReconciliationError) as raised:
            await rest.find_sent(sms(), SystemClock().now())

    # No answer at all: it may be asked again later.
    assert not isinstance(raised.value, ReconciliationRefusedError)


async def test_an_api_without_a_message_list_refuses_reconciliation() -> None:
    async with (
        FakeTwilio(lists=False) as fake,
        TwilioRestSender(fake.account_sid, fake.auth_token, api_url=fake.url) as rest,
    ):
        with pytest.raises(ReconciliationRefusedError, match="http 405"):
            await rest.find_sent(sms(), SystemClock().now())


async def test_reconciliation_refuses_a_naive_since(sender: TwilioRestSender) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        await sender.find_sent(sms(), datetime(2026, 1, 1))


async def test_wrong_credentials_are_rejected(fake: FakeTwilio) -> None:
    async with TwilioRestSender(fake.account_sid, "wrong", api_url=fake.url) as rest:
        outcome = await rest.send(sms())

    assert isinstance(outcome, Rejected)
    assert (outcome.status, outcome.code) == (401, 20003)
    assert fake.messages == []


async def test_close_releases_the_session(fake: FakeTwilio) -> None:
    rest = TwilioRestSender(fake.account_sid, fake.auth_token, api_url=fake.url)
    assert isinstance(await rest.send(sms()), Sent)

    await rest.close()
    after_close = await rest.send(sms())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        del rest
        gc.collect()

    assert isinstance(after_close, RetryLater)
    assert [str(w.message) for w in caught if "Unclosed" in str(w.message)] == []
    assert len(fake.messages) == 1


async def test_no_body_or_number_is_logged(
    fake: FakeTwilio, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    since = SystemClock().now()
    with capture_logs() as events:
        async with TwilioRestSender(
            fake.account_sid, fake.auth_token, api_url=fake.url, timeout=0.2
        ) as rest:
            await rest.send(sms())
            await rest.send(sms(to="5557654321"))
            fake.opt_out(CLIENT)
            await rest.send(sms())
            fake.fail_next(1, status=429, retry_after=1)
            await rest.send(sms())
            fake.delay_next(1, seconds=3.0)
            fake.opt_in(CLIENT)
            await rest.send(sms())
            await rest.find_sent(sms(), since)

    assert events, "the sender logs its outcomes"
    logged = [repr(event) for event in events] + [r.getMessage() for r in caplog.records]
    for secret in (BODY, "rough night", CLIENT, PRACTICE, "5557654321", "7654321"):
        assert not [line for line in logged if secret in line], secret


async def test_dry_run_records_echoes_and_finds_messages() -> None:
    console = io.StringIO()
    dry = DryRunSender(echo=True, stream=console, capacity=2)
    since = SystemClock().now()

    first = await dry.send(sms(body="line one\nline two"))
    await dry.send(sms(body="second"))
    third = await dry.send(sms(body="third"))

    assert isinstance(first, Sent)
    assert isinstance(third, Sent)
    assert first.sid.startswith("DRY")
    assert len(first.sid) == 35
    assert console.getvalue().splitlines() == [
        f"[dry-run] SMS from {PRACTICE} to {CLIENT}: line one\\nline two",
        f"[dry-run] SMS from {PRACTICE} to {CLIENT}: second",
        f"[dry-run] SMS from {PRACTICE} to {CLIENT}: third",
    ]
    assert [r.sms.body for r in dry.sent] == ["second", "third"]
    assert await dry.find_sent(sms(body="third"), since) == third.sid
    assert await dry.find_sent(sms(body="line one\nline two"), since) is None
    assert await dry.find_sent(sms(body="third"), since + timedelta(minutes=1)) is None
    await dry.close()


async def test_dry_run_is_silent_without_echo(capsys: pytest.CaptureFixture[str]) -> None:
    dry = DryRunSender()

    outcome = await dry.send(sms())

    assert isinstance(outcome, Sent)
    assert capsys.readouterr().err == ""
    assert await dry.find_sent(sms(), datetime(2000, 1, 1, tzinfo=UTC)) == outcome.sid


async def test_reconciliation_reads_past_the_first_page(
    fake: FakeTwilio, sender: TwilioRestSender
) -> None:
    """A busy pair of numbers: the message looked for lies behind more than a page of later
    ones, and a second copy of it would reach the phone."""
    since = SystemClock().now()
    lost = await sender.send(sms(body="the one looked for"))
    for number in range(250):
        await sender.send(sms(body=f"later notice {number}"))
    assert isinstance(lost, Sent)

    assert await sender.find_sent(sms(body="the one looked for"), since) == lost.sid
