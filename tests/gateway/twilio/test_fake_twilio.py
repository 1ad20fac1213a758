"""The fake Twilio answers in Twilio's shapes and does what its scripting says."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from twilio.request_validator import RequestValidator

from gateway.clock import SystemClock
from gateway.twilio.sender import OutboundSms, Sent, TwilioRestSender
from tests.fakes.twilio_api import FakeTwilio

PRACTICE = "+15550009999"
CLIENT = "+15557654321"
OTHER = "+15557650000"


class StepClock:
    def __init__(self, start: datetime) -> None:
        self.current = start

    def now(self) -> datetime:
        return self.current


@pytest.fixture
async def fake() -> AsyncIterator[FakeTwilio]:
    async with FakeTwilio() as running:
        yield running


@pytest.fixture
async def http(fake: FakeTwilio) -> AsyncIterator[aiohttp.ClientSession]:
    headers = {"Authorization": _basic(fake.account_sid, fake.auth_token)}
    async with aiohttp.ClientSession(base_url=fake.url, headers=headers) as session:
        yield session


def _basic(login: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{login}:{password}".encode()).decode()


async def _post(
    http: aiohttp.ClientSession, fake: FakeTwilio, **form: str
) -> tuple[int, dict[str, Any]]:
    async with http.post(fake.messages_path, data=form) as reply:
        payload: dict[str, Any] = await reply.json()
        return reply.status, payload


async def _get(
    http: aiohttp.ClientSession, path: str, params: dict[str, str] | None = None
) -> tuple[int, dict[str, Any]]:
    async with http.get(path, params=params) as reply:
        payload: dict[str, Any] = await reply.json()
        return reply.status, payload


async def test_created_message_looks_like_twilios(
    fake: FakeTwilio, http: aiohttp.ClientSession
) -> None:
    status, payload = await _post(
        http, fake, To=CLIENT, From=PRACTICE, Body="hello", StatusCallback="http://x/status"
    )

    assert status == 201
    assert payload["sid"].startswith("SM")
    assert len(payload["sid"]) == 34
    assert payload["status"] == "queued"
    assert (payload["to"], payload["from"], payload["body"]) == (CLIENT, PRACTICE, "hello")
    assert payload["date_created"].endswith("+0000")
    [message] = fake.messages
    assert message.sid == payload["sid"]
    assert message.status_callback == "http://x/status"


async def test_wrong_credentials_get_twilios_error_shape(fake: FakeTwilio) -> None:
    headers = {"Authorization": _basic(fake.account_sid, "nope")}
    async with (
        aiohttp.ClientSession(base_url=fake.url, headers=headers) as session,
        session.post(fake.messages_path, data={"To": CLIENT}) as reply,
    ):
        payload = await reply.json()

    assert reply.status == 401
    assert payload == {
        "code": 20003,
        "message": "Authenticate",
        "more_info": "https://www.twilio.com/docs/errors/20003",
        "status": 401,
    }
    assert fake.post_attempts == 1


async def test_messaging_service_may_replace_from(
    fake: FakeTwilio, http: aiohttp.ClientSession
) -> None:
    status, payload = await _post(http, fake, To=CLIENT, MessagingServiceSid="MG1", Body="hi")

    assert status == 201
    assert payload["messaging_service_sid"] == "MG1"


async def test_scripted_failures_come_in_order_and_record_nothing(
    fake: FakeTwilio, http: aiohttp.ClientSession
) -> None:
    fake.fail_next(1, status=429, retry_after=3)
    fake.fail_next(1, status=503, code=30001)

    async with http.post(fake.messages_path, data={"To": CLIENT}) as reply:
        assert reply.status == 429
        assert reply.headers["Retry-After"] == "3"
        assert (await reply.json())["code"] == 20429
    status, payload = await _post(http, fake, To=CLIENT, From=PRACTICE, Body="x")
    assert (status, payload["code"]) == (503, 30001)
    status, _ = await _post(http, fake, To=CLIENT, From=PRACTICE, Body="x")
    assert status == 201
    assert len(fake.messages) == 1
    assert fake.post_attempts == 3


async def test_opted_out_number_gets_21610_until_opted_in(
    fake: FakeTwilio, http: aiohttp.ClientSession
) -> None:
    fake.opt_out(CLIENT)
    status, payload = await _post(http, fake, To=CLIENT, From=PRACTICE, Body="x")
    assert (status, payload["code"]) == (400, 21610)

    fake.opt_in(CLIENT)
    status, _ = await _post(http, fake, To=CLIENT, From=PRACTICE, Body="x")
    assert status == 201


@pytest.mark.parametrize(
    ("form", "code"),
    [
        ({"From": PRACTICE, "Body": "x"}, 21604),
        ({"To": CLIENT, "Body": "x"}, 21603),
        ({"To": CLIENT, "From": PRACTICE}, 21602),
        ({"To": "555-0100", "From": PRACTICE, "Body": "x"}, 21211),
        ({"To": CLIENT, "From": PRACTICE, "Body": "x" * 1601}, 21617),
    ],
)
async def test_invalid_requests_get_twilios_codes(
    fake: FakeTwilio, http: aiohttp.ClientSession, form: dict[str, str], code: int
) -> None:
    status, payload = await _post(http, fake, **form)

    assert (status, payload["code"]) == (400, code)
    assert fake.messages == []


async def test_list_filters_by_numbers_and_date_and_pages() -> None:
    clock = StepClock(datetime(2026, 3, 1, 12, tzinfo=UTC))
    async with FakeTwilio(clock=clock) as dated:
        headers = {"Authorization": _basic(dated.account_sid, dated.auth_token)}
        async with aiohttp.ClientSession(base_url=dated.url, headers=headers) as http:
            await _post(http, dated, To=CLIENT, From=PRACTICE, Body="old")
            clock.current += timedelta(days=2)
            for body in ("a", "b", "c"):
                await _post(http, dated, To=CLIENT, From=PRACTICE, Body=body)
                clock.current += timedelta(seconds=1)
            await _post(http, dated, To=OTHER, From=PRACTICE, Body="other")

            query = {"To": CLIENT, "From": PRACTICE, "DateSent>": "2026-03-02", "PageSize": "2"}
            status, first = await _get(http, dated.messages_path, query)
            assert status == 200
            assert [m["body"] for m in first["messages"]] == ["c", "b"]
            assert first["next_page_uri"] is not None
            _, second = await _get(http, first["next_page_uri"])

    assert [m["body"] for m in second["messages"]] == ["a"]
    assert second["next_page_uri"] is None
    assert second["messages"][0]["status"] == "sent"
    assert second["messages"][0]["date_sent"] is not None


async def test_fetch_answers_one_message_or_404(
    fake: FakeTwilio, http: aiohttp.ClientSession
) -> None:
    _, created = await _post(http, fake, To=CLIENT, From=PRACTICE, Body="x")
    base = f"/2010-04-01/Accounts/{fake.account_sid}/Messages"

    status, fetched = await _get(http, f"{base}/{created['sid']}.json")
    assert (status, fetched["sid"]) == (200, created["sid"])
    status, missing = await _get(http, f"{base}/SM{'f' * 32}.json")
    assert (status, missing["code"]) == (404, 20404)


async def test_twilio_python_reads_what_the_fake_writes(fake: FakeTwilio) -> None:
    since = SystemClock().now()
    sms = OutboundSms(from_number=PRACTICE, to_number=CLIENT, body="parsed")
    async with TwilioRestSender(fake.account_sid, fake.auth_token, api_url=fake.url) as rest:
        sent = await rest.send(sms)
        assert isinstance(sent, Sent)
        assert await rest.find_sent(sms, since) == sent.sid


async def test_slow_answer_without_record_drops_the_message_when_the_client_leaves(
    fake: FakeTwilio,
) -> None:
    fake.delay_next(1, seconds=0.3, record=False)
    headers = {"Authorization": _basic(fake.account_sid, fake.auth_token)}
    async with aiohttp.ClientSession(base_url=fake.url, headers=headers) as http:
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.05):
                await _post(http, fake, To=CLIENT, From=PRACTICE, Body="x")
    await asyncio.sleep(0.4)

    assert fake.messages == []
    assert fake.post_attempts == 1


async def test_wait_for_returns_when_enough_messages_arrived(
    fake: FakeTwilio, http: aiohttp.ClientSession
) -> None:
    waiting = asyncio.create_task(fake.wait_for(2, timeout=2.0))
    await _post(http, fake, To=CLIENT, From=PRACTICE, Body="1")
    await _post(http, fake, To=CLIENT, From=PRACTICE, Body="2")

    assert [m.body for m in await waiting] == ["1", "2"]
    with pytest.raises(TimeoutError, match="recorded 2 of 3"):
        await fake.wait_for(3, timeout=0.05)


async def test_reset_forgets_messages_and_scripts(
    fake: FakeTwilio, http: aiohttp.ClientSession
) -> None:
    await _post(http, fake, To=CLIENT, From=PRACTICE, Body="x")
    fake.opt_out(CLIENT)
    fake.fail_next(3)

    fake.reset()

    assert (fake.messages, fake.post_attempts) == ([], 0)
    status, _ = await _post(http, fake, To=CLIENT, From=PRACTICE, Body="x")
    assert status == 201


async def test_send_status_posts_a_signed_callback(
    fake: FakeTwilio, http: aiohttp.ClientSession
) -> None:
    received: list[tuple[str, dict[str, str], str]] = []

    async def status_hook(request: web.Request) -> web.Response:
        form = await request.post()
        params = {k: str(v) for k, v in form.items()}
        received.append((str(request.url), params, request.headers["X-Twilio-Signature"]))
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/twilio/status", status_hook)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    host, port = runner.addresses[0][:2]
    callback = f"http://{host}:{port}/twilio/status"
    try:
        _, created = await _post(
            http, fake, To=CLIENT, From=PRACTICE, Body="x", StatusCallback=callback
        )
        answer = await fake.send_status(created["sid"], "delivered")
    finally:
        await runner.cleanup()

    assert answer == 204
    [(url, params, signature)] = received
    assert RequestValidator(fake.auth_token).validate(url, params, signature)
    assert params["MessageStatus"] == "delivered"
    assert params["MessageSid"] == created["sid"]
    assert fake.statuses[created["sid"]] == "delivered"
