"""A fake of Twilio's Messages REST API over real HTTP on 127.0.0.1.

    async with FakeTwilio() as fake:
        sender = TwilioRestSender(fake.account_sid, fake.auth_token, api_url=fake.url)
        ...
        [message] = await fake.wait_for(1)

It answers in Twilio's shapes (message resources, list pages, `{"code", "message",
"more_info", "status"}` errors) closely enough for twilio-python to parse them, and can be
scripted to fail: opted-out recipients, error statuses with Retry-After, slow answers.
Messages are "sent" as soon as they are created: the create answer says `queued`, and reads
afterwards show `sent` (or whatever `send_status` last reported) with a send date.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import math
import re
import secrets
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from email.utils import format_datetime
from types import TracebackType
from typing import Final, Self
from urllib.parse import urlencode

import aiohttp
from aiohttp import web
from twilio.request_validator import RequestValidator

from gateway.clock import Clock, SystemClock

__all__ = ["DEFAULT_ACCOUNT_SID", "DEFAULT_AUTH_TOKEN", "FakeMessage", "FakeTwilio"]

DEFAULT_ACCOUNT_SID: Final = "AC" + "0" * 32
DEFAULT_AUTH_TOKEN: Final = "fake-twilio-auth-token"
API_VERSION: Final = "2010-04-01"

_E164: Final = re.compile(r"\+[1-9]\d{5,14}")
_MAX_BODY: Final = 1600
_DEFAULT_CODES: Final = {401: 20003, 404: 20404, 429: 20429, 500: 20500, 503: 20503}
_NOT_YET_SENT: Final = frozenset({"accepted", "queued", "scheduled"})


@dataclass(frozen=True, slots=True)
class FakeMessage:
    sid: str
    to: str
    from_: str
    body: str
    status_callback: str | None
    received_at: datetime
    messaging_service_sid: str | None = None


@dataclass(frozen=True, slots=True)
class _Failure:
    status: int
    code: int | None
    retry_after: float | None


@dataclass(frozen=True, slots=True)
class _Delay:
    seconds: float
    record: bool


def _rfc2822(moment: datetime) -> str:
    return format_datetime(moment.astimezone(UTC))


def _segments(body: str) -> int:
    # Rough, but in Twilio's spirit: 160/153 characters when ASCII, 70/67 otherwise.
    single, multi = (160, 153) if body.isascii() else (70, 67)
    return 1 if len(body) <= single else math.ceil(len(body) / multi)


def _error(
    status: int, code: int | None, message: str, headers: dict[str, str] | None = None
) -> web.Response:
    more_info = f"https://www.twilio.com/docs/errors/{code}" if code is not None else None
    payload = {"code": code, "message": message, "more_info": more_info, "status": status}
    return web.json_response(payload, status=status, headers=headers)


def _basic_credentials(header: str) -> tuple[str, str] | None:
    # By hand: aiohttp.BasicAuth warns as deprecated from 3.14 on.
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    login, colon, password = decoded.partition(":")
    return (login, password) if colon else None


def _field(form: Mapping[str, object], name: str) -> str | None:
    value = form.get(name)
    return value if isinstance(value, str) else None


class FakeTwilio:
    def __init__(
        self,
        account_sid: str = DEFAULT_ACCOUNT_SID,
        auth_token: str = DEFAULT_AUTH_TOKEN,
        *,
        clock: Clock | None = None,
        lists: bool = True,
    ) -> None:
        """`lists=False`: an API without the message list, as some stand-ins for Twilio are
        (a GET of Messages.json answers 405)."""
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.messages: list[FakeMessage] = []
        self.statuses: dict[str, str] = {}
        # Every POST to the Messages list, refused or not: "nothing was retried" is asserted here.
        self.post_attempts = 0
        self._clock = clock or SystemClock()
        self._lists = lists
        self._opted_out: set[str] = set()
        self._failures: deque[_Failure] = deque()
        self._delays: deque[_Delay] = deque()
        self._lookup_delays: deque[float] = deque()
        self._arrived = asyncio.Condition()
        self._stopping = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self._url: str | None = None

    @property
    def url(self) -> str:
        """Base URL, like http://127.0.0.1:PORT, to use as the REST API URL."""
        if self._url is None:
            raise RuntimeError("FakeTwilio is not running; use `async with FakeTwilio()`")
        return self._url

    @property
    def messages_path(self) -> str:
        return f"/{API_VERSION}/Accounts/{self.account_sid}/Messages.json"

    # Running

    async def start(self) -> None:
        self._stopping = asyncio.Event()
        app = web.Application()
        app.router.add_post("/{version}/Accounts/{account_sid}/Messages.json", self._create)
        if self._lists:
            app.router.add_get("/{version}/Accounts/{account_sid}/Messages.json", self._list)
        app.router.add_get("/{version}/Accounts/{account_sid}/Messages/{sid}.json", self._fetch)
        # No access log: request lines carry phone numbers, and tests assert that logs do not.
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        host, port = self._runner.addresses[0][:2]
        self._url = f"http://{host}:{port}"

    async def stop(self) -> None:
        self._stopping.set()  # wakes delayed answers so shutdown does not wait for them
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        self._url = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()

    # Scripting

    def opt_out(self, number: str) -> None:
        """Later sends to `number` get 400 with code 21610, as after the client texted STOP."""
        self._opted_out.add(number)

    def opt_in(self, number: str) -> None:
        self._opted_out.discard(number)

    def fail_next(
        self,
        n: int = 1,
        status: int = 500,
        code: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        """The next `n` authenticated POSTs answer `status` and record nothing."""
        failure = _Failure(status=status, code=code, retry_after=retry_after)
        self._failures.extend([failure] * n)

    def delay_next(self, n: int, seconds: float, record: bool = True) -> None:
        """The next `n` POSTs answer after `seconds`.

        record=True: the message is recorded at once, before the wait, like a Twilio that
        created it and then was slow to say so. record=False: the message is recorded after
        the wait, and only if the client is still connected; otherwise it never exists.
        """
        self._delays.extend([_Delay(seconds=seconds, record=record)] * n)

    def delay_lookups(self, n: int, seconds: float) -> None:
        """The next `n` message-list lookups answer after `seconds`."""
        self._lookup_delays.extend([seconds] * n)

    def reset(self) -> None:
        self.messages.clear()
        self.statuses.clear()
        self.post_attempts = 0
        self._opted_out.clear()
        self._failures.clear()
        self._delays.clear()
        self._lookup_delays.clear()

    async def wait_for(
        self,
        count: int,
        timeout: float = 5.0,  # noqa: ASYNC109 - spares each test its own asyncio.timeout
    ) -> list[FakeMessage]:
        """Waits until at least `count` messages are recorded; returns all of them."""
        try:
            async with asyncio.timeout(timeout), self._arrived:
                await self._arrived.wait_for(lambda: len(self.messages) >= count)
        except TimeoutError:
            raise TimeoutError(
                f"FakeTwilio recorded {len(self.messages)} of {count} messages in {timeout}s"
            ) from None
        return list(self.messages)

    def message(self, sid: str) -> FakeMessage:
        for message in self.messages:
            if message.sid == sid:
                return message
        raise KeyError(sid)

    async def send_status(
        self,
        sid: str,
        status: str,
        *,
        url: str | None = None,
        error_code: int | None = None,
        auth_token: str | None = None,
    ) -> int:
        """POSTs a status callback for message `sid` as Twilio would; returns the HTTP status.

        Goes to `url`, else to the StatusCallback the message was sent with; it is signed
        with `auth_token` (default: this fake's), so the receiver must know that token. The
        status also becomes the message's status in later reads.
        """
        message = self.message(sid)
        target = url or message.status_callback
        if target is None:
            raise ValueError(f"message {sid} has no StatusCallback and no url was given")
        params = {
            "AccountSid": self.account_sid,
            "ApiVersion": API_VERSION,
            "From": message.from_,
            "To": message.to,
            "MessageSid": sid,
            "SmsSid": sid,
            "MessageStatus": status,
            "SmsStatus": status,
        }
        if message.messaging_service_sid is not None:
            params["MessagingServiceSid"] = message.messaging_service_sid
        if error_code is not None:
            params["ErrorCode"] = str(error_code)
        validator = RequestValidator(auth_token or self.auth_token)
        signature: str = validator.compute_signature(target, params)
        self.statuses[sid] = status
        async with (
            aiohttp.ClientSession() as session,
            session.post(target, data=params, headers={"X-Twilio-Signature": signature}) as reply,
        ):
            return reply.status

    # Twilio's side

    def _refusal(self, request: web.Request) -> web.Response | None:
        if _basic_credentials(request.headers.get("Authorization", "")) != (
            self.account_sid,
            self.auth_token,
        ):
            return _error(401, 20003, "Authenticate")
        if request.match_info["version"] != API_VERSION or (
            request.match_info["account_sid"] != self.account_sid
        ):
            return _error(404, 20404, f"The requested resource {request.path} was not found")
        return None

    def _resource(self, message: FakeMessage, status: str) -> dict[str, object]:
        sent = status not in _NOT_YET_SENT
        base = f"/{API_VERSION}/Accounts/{self.account_sid}/Messages/{message.sid}"
        return {
            "account_sid": self.account_sid,
            "api_version": API_VERSION,
            "body": message.body,
            "date_created": _rfc2822(message.received_at),
            "date_sent": _rfc2822(message.received_at) if sent else None,
            "date_updated": _rfc2822(message.received_at),
            "direction": "outbound-api",
            "error_code": None,
            "error_message": None,
            "from": message.from_,
            "messaging_service_sid": message.messaging_service_sid,
            "num_media": "0",
            "num_segments": str(_segments(message.body)),
            "price": None,
            "price_unit": "USD",
            "sid": message.sid,
            "status": status,
            "subresource_uris": {"media": f"{base}/Media.json"},
            "to": message.to,
            "uri": f"{base}.json",
        }

    async def _record(self, message: FakeMessage) -> None:
        self.messages.append(message)
        self.statuses[message.sid] = "sent"
        async with self._arrived:
            self._arrived.notify_all()

    async def _pause(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)

    async def _create(self, request: web.Request) -> web.Response:
        self.post_attempts += 1
        refusal = self._refusal(request)
        if refusal is not None:
            return refusal
        if self._failures:
            failure = self._failures.popleft()
            headers = (
                {"Retry-After": f"{failure.retry_after:g}"}
                if failure.retry_after is not None
                else None
            )
            code = failure.code if failure.code is not None else _DEFAULT_CODES.get(failure.status)
            return _error(failure.status, code, "Scripted failure", headers)

        form = await request.post()
        to = _field(form, "To")
        from_ = _field(form, "From")
        service = _field(form, "MessagingServiceSid")
        body = _field(form, "Body")
        if not to:
            return _error(400, 21604, "A 'To' phone number is required.")
        if not from_ and not service:
            return _error(400, 21603, "A 'From' phone number is required.")
        if not body:
            return _error(400, 21602, "Message body is required.")
        if not _E164.fullmatch(to):
            # Twilio's real wording quotes the number: senders must not pass it on to logs.
            return _error(400, 21211, f"The 'To' number {to} is not a valid phone number.")
        if to in self._opted_out:
            return _error(400, 21610, "Attempt to send to unsubscribed recipient")
        if len(body) > _MAX_BODY:
            return _error(
                400, 21617, "The concatenated message body exceeds the 1600 character limit."
            )

        message = FakeMessage(
            sid="SM" + secrets.token_hex(16),
            to=to,
            from_=from_ or "",
            body=body,
            status_callback=_field(form, "StatusCallback"),
            received_at=self._clock.now(),
            messaging_service_sid=service,
        )
        delay = self._delays.popleft() if self._delays else None
        if delay is not None and not delay.record:
            await self._pause(delay.seconds)
            if request.transport is None or request.transport.is_closing():
                return _error(499, None, "Client went away")  # nobody reads it
        await self._record(message)
        if delay is not None and delay.record:
            await self._pause(delay.seconds)
        return web.json_response(self._resource(message, "queued"), status=201)

    async def _fetch(self, request: web.Request) -> web.Response:
        refusal = self._refusal(request)
        if refusal is not None:
            return refusal
        try:
            message = self.message(request.match_info["sid"])
        except KeyError:
            return _error(404, 20404, f"The requested resource {request.path} was not found")
        return web.json_response(self._resource(message, self.statuses[message.sid]))

    async def _list(self, request: web.Request) -> web.Response:
        refusal = self._refusal(request)
        if refusal is not None:
            return refusal
        if self._lookup_delays:
            await self._pause(self._lookup_delays.popleft())
        query = request.query
        try:
            # On the wire "DateSent>=2024-05-01" is the key "DateSent>" with a date value;
            # twilio-python sends a full timestamp there, of which Twilio reads the date.
            on, after, before = (
                date.fromisoformat(query[key][:10]) if key in query else None
                for key in ("DateSent", "DateSent>", "DateSent<")
            )
            page = int(query.get("Page", "0"))
            page_size = min(int(query.get("PageSize", "50")), 1000)
        except ValueError:
            return _error(400, 20001, "Invalid query parameter")
        if page < 0 or page_size < 1:
            return _error(400, 20001, "Invalid paging parameter")

        def wanted(message: FakeMessage) -> bool:
            sent_on = message.received_at.astimezone(UTC).date()
            return (
                query.get("To", message.to) == message.to
                and query.get("From", message.from_) == message.from_
                and (on is None or sent_on == on)
                and (after is None or sent_on >= after)
                and (before is None or sent_on <= before)
            )

        # Newest first, as Twilio lists them; reversing first keeps ties newest first too.
        matching = sorted(
            (m for m in reversed(self.messages) if wanted(m)),
            key=lambda m: m.received_at,
            reverse=True,
        )
        start = page * page_size
        chunk = matching[start : start + page_size]
        filters = [(k, v) for k, v in query.items() if k not in {"Page", "PageSize", "PageToken"}]

        def page_uri(number: int) -> str:
            paging = [("PageSize", str(page_size)), ("Page", str(number))]
            if number > 0:
                paging.append(("PageToken", f"PA{number}"))
            return f"{request.path}?{urlencode(filters + paging)}"

        has_next = start + page_size < len(matching)
        return web.json_response(
            {
                "messages": [self._resource(m, self.statuses[m.sid]) for m in chunk],
                "end": start + len(chunk) - 1 if chunk else start,
                "first_page_uri": page_uri(0),
                "next_page_uri": page_uri(page + 1) if has_next else None,
                "page": page,
                "page_size": page_size,
                "previous_page_uri": page_uri(page - 1) if page > 0 else None,
                "start": start,
                "uri": page_uri(page),
            }
        )
