"""Outbound SMS over Twilio's REST API.

A send ends in one of four outcomes, and the difference between them is what keeps a client
from getting the same message twice or never:

- `Sent`: Twilio accepted the message.
- `RetryLater`: Twilio certainly did not create it (nothing left this process, or Twilio said
  429 or 5xx); sending again is safe.
- `Rejected`: Twilio refused it for good (opted out, invalid number, bad credentials).
- `Unknown`: the request may have reached Twilio but no answer came back. Sending again could
  double-send; ask `find_sent` first.

"Did anything leave?" is answered by aiohttp's request tracing rather than by the exception's
type: the `on_request_headers_sent` signal fires just before the first byte of a request is
written, so a failure or an `asyncio.timeout` expiry before that signal (DNS, refused or slow
connection, TLS, waiting for a pooled connection) is safe to retry, and anything after it is not.
Exception types alone cannot tell: an `asyncio.timeout` around the call raises the same
`TimeoutError` during connect and while awaiting the answer.
"""

from __future__ import annotations

import asyncio
import base64
import contextvars
import math
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from types import SimpleNamespace, TracebackType
from typing import Any, Final, Protocol, Self, TypeAlias, assert_never
from urllib.parse import urlsplit, urlunsplit

import aiohttp
import structlog
from twilio.base import values
from twilio.base.exceptions import TwilioException, TwilioRestException, TwilioServiceException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client

__all__ = [
    "DEFAULT_API_URL",
    "OutboundSms",
    "ReconciliationError",
    "ReconciliationRefusedError",
    "Rejected",
    "RetryLater",
    "SendOutcome",
    "Sent",
    "SmsSender",
    "TwilioRestSender",
    "Unknown",
    "is_final",
]

DEFAULT_API_URL: Final = "https://api.twilio.com"

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True, repr=False)
class OutboundSms:
    from_number: str
    to_number: str
    body: str
    status_callback: str | None = None

    def __repr__(self) -> str:
        # Numbers and body are health information; a repr ends up in tracebacks and debuggers.
        return "OutboundSms(<redacted>)"


@dataclass(frozen=True, slots=True)
class Sent:
    sid: str


@dataclass(frozen=True, slots=True)
class RetryLater:
    reason: str
    retry_after: float | None = None


@dataclass(frozen=True, slots=True)
class Rejected:
    code: int | None
    status: int
    reason: str


@dataclass(frozen=True, slots=True)
class Unknown:
    reason: str


SendOutcome: TypeAlias = Sent | RetryLater | Rejected | Unknown


def is_final(outcome: SendOutcome) -> bool:
    """True when nothing more should be attempted for this message."""
    return isinstance(outcome, Sent | Rejected)


class ReconciliationError(Exception):
    """Twilio could not be asked whether a message exists; the answer is still unknown.

    Distinct from `find_sent` returning None (Twilio answered: no such message), because
    treating "could not ask" as "not sent" would re-send a message that may have gone out.
    """


class ReconciliationRefusedError(ReconciliationError):
    """The provider answered, but refused to list messages for good (a 4xx other than 429):
    asking again will not help, and waiting for an answer would hold the message for ever."""


class SmsSender(Protocol):
    async def send(self, sms: OutboundSms) -> SendOutcome:
        """Send once; never retries by itself."""
        ...

    async def find_sent(
        self, sms: OutboundSms, since: datetime, *, exclude: Collection[str] = ()
    ) -> str | None:
        """SID of a message with the same numbers and body created at or after `since`, other
        than those in `exclude` (already another row's: the same text twice is two messages).

        Raises `ReconciliationError` when the provider cannot be asked, and its subclass
        `ReconciliationRefusedError` when it answered that it will not list messages at all.
        """
        ...

    async def close(self) -> None: ...


# Short, fixed descriptions: Twilio's own error messages quote the phone number.
_TWILIO_ERRORS: Final[Mapping[int, str]] = {
    20003: "authentication failed",
    20404: "resource not found",
    21211: "invalid To number",
    21408: "region not enabled for this account",
    21602: "body required",
    21606: "From number cannot send SMS",
    21610: "recipient opted out",
    21612: "To number not reachable from this From number",
    21614: "To number cannot receive SMS",
    21617: "body too long",
}

# A reconciliation reads the newest messages between two numbers, page by page, up to this
# many: far more than a day of traffic between a practice number and one phone.
_RECONCILE_LIMIT: Final = 1000
_RECONCILE_PAGE: Final = 200


@dataclass(slots=True)
class _Exchange:
    """What one call to Twilio got as far as, filled in by the HTTP client."""

    request_sent: bool = False
    status: int | None = None
    retry_after: float | None = None


# The twilio client sits between the sender and the HTTP client and passes no per-call state
# through; a context variable reaches the HTTP client in the same task without it.
_current_exchange: contextvars.ContextVar[_Exchange | None] = contextvars.ContextVar(
    "twilio_exchange", default=None
)


async def _on_request_headers_sent(
    session: aiohttp.ClientSession,
    context: SimpleNamespace,
    params: aiohttp.TraceRequestHeadersSentParams,
) -> None:
    exchange = context.trace_request_ctx
    if isinstance(exchange, _Exchange):
        exchange.request_sent = True


class _RebasedHttpClient(AsyncTwilioHttpClient):  # type: ignore[misc]  # twilio ships no types
    """twilio's async HTTP client, pointed at `api_url`, quiet and without retries.

    Replaces `request` as a whole because the original passes `timeout=None` to aiohttp (no
    bound at all), has no base-URL setting, and logs each URL at INFO, whose query string holds
    phone numbers when listing messages. No `max_retries`: aiohttp_retry re-sends POSTs on 5xx,
    which double-sends SMS.
    """

    def __init__(self, api_url: str) -> None:
        # pool_connections=False stops the base class from opening a session of its own.
        super().__init__(pool_connections=False)
        self._api_url = api_url.rstrip("/")
        tracing = aiohttp.TraceConfig()
        tracing.on_request_headers_sent.append(_on_request_headers_sent)
        # No aiohttp timeout: the sender bounds each whole call with asyncio.timeout, and the
        # tracing above says whether a request had left when the bound expired.
        self.session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=None), trace_configs=[tracing]
        )

    def _rebase(self, url: str) -> str:
        # Keep path and query only, whatever host twilio chose (api, edge or region hosts).
        parts = urlsplit(url)
        return self._api_url + urlunsplit(("", "", parts.path, parts.query, ""))

    async def request(  # noqa: PLR0917 - twilio's signature, positional as in the base class
        self,
        method: str,
        url: str,
        params: dict[str, object] | None = None,
        data: dict[str, object] | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 - twilio always passes None; see class doc
        allow_redirects: bool = False,
    ) -> Response:
        exchange = _current_exchange.get()
        if exchange is None:
            exchange = _Exchange()
        all_headers = dict(headers or {})
        if auth is not None:
            all_headers["Authorization"] = _basic_authorization(*auth)
        async with self.session.request(
            method.upper(),
            self._rebase(url),
            params={key: str(value) for key, value in params.items()} if params else None,
            data=data,
            headers=all_headers,
            allow_redirects=allow_redirects,
            trace_request_ctx=exchange,
        ) as response:
            exchange.status = response.status
            exchange.retry_after = _retry_after(response.headers)
            text = await response.text()
        return Response(response.status, text, response.headers)

    async def close(self) -> None:
        await self.session.close()


def _basic_authorization(login: str, password: str) -> str:
    # By hand: aiohttp.BasicAuth is deprecated from 3.14 on and its replacement is 3.14-only.
    return "Basic " + base64.b64encode(f"{login}:{password}".encode()).decode("ascii")


def _retry_after(headers: Mapping[str, str]) -> float | None:
    raw = headers.get("Retry-After")
    if raw is None:
        return None
    try:
        seconds = float(raw)
    except ValueError:
        # The HTTP-date form is measured against the server's own Date header, so that our
        # clock's error does not enter.
        try:
            seconds = (
                parsedate_to_datetime(raw) - parsedate_to_datetime(headers.get("Date", ""))
            ).total_seconds()
        except (TypeError, ValueError):
            return None
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)


def _error_code(exc: TwilioRestException | TwilioServiceException) -> int | None:
    code = exc.code
    # twilio fills in the HTTP status when the error body carries no code of its own.
    if isinstance(code, int) and code != exc.status:
        return code
    return None


def _outcome_for_status(status: int, code: int | None, retry_after: float | None) -> SendOutcome:
    if status == 429 or status >= 500:
        return RetryLater(reason=f"http {status}", retry_after=retry_after)
    if 400 <= status < 500:
        description = _TWILIO_ERRORS.get(code, "refused") if code is not None else "refused"
        prefix = f"twilio {code}" if code is not None else f"http {status}"
        return Rejected(code=code, status=status, reason=f"{prefix}: {description}")
    # A redirect or other surprise means api_url is wrong; Twilio created nothing.
    return RetryLater(reason=f"unexpected http {status}", retry_after=retry_after)


def _outcome_for_failure(exchange: _Exchange, error: BaseException) -> SendOutcome:
    kind = "timeout" if isinstance(error, TimeoutError) else type(error).__name__
    if exchange.request_sent:
        return Unknown(reason=f"{kind} after the request was sent")
    return RetryLater(reason=f"{kind} before the request was sent")


def _log_outcome(outcome: SendOutcome) -> None:
    match outcome:
        case Sent(sid=sid):
            log.debug("sms_sent", sid=sid)
        case RetryLater(reason=reason, retry_after=retry_after):
            log.warning("sms_send_retry_later", error=reason, retry_in=retry_after)
        case Rejected(code=code, status=status, reason=reason):
            log.warning("sms_send_rejected", code=code, status=status, error=reason)
        case Unknown(reason=reason):
            log.warning("sms_send_unknown", error=reason)
        case _:
            assert_never(outcome)


class TwilioRestSender:
    """`SmsSender` over Twilio's REST API.

    Construct it anywhere; its HTTP session is built by `async with` or on first use, which
    must happen inside the event loop that will use it (an aiohttp session belongs to one
    loop). Close it with `close()` or by leaving the `async with`. After `close()`, `send`
    answers `RetryLater`, so that a message caught by shutdown stays in the outbox.
    """

    def __init__(
        self,
        account_sid: str,
        auth_token: str,
        api_url: str = DEFAULT_API_URL,
        timeout: float = 10.0,
        *,
        clock_skew: float = 2.0,
    ) -> None:
        """`timeout` bounds each whole call (connect, send, answer); `clock_skew` is how many
        seconds earlier than `since` a reconciliation still accepts Twilio's timestamp."""
        if timeout <= 0:
            raise ValueError("timeout must be positive")
        self._account_sid = account_sid
        self._auth_token = auth_token
        self._api_url = api_url
        self._timeout = timeout
        self._clock_skew = timedelta(seconds=clock_skew)
        self._http: _RebasedHttpClient | None = None
        self._messages: Any = None  # twilio's MessageList; untyped
        self._closed = False

    async def __aenter__(self) -> Self:
        self._twilio_messages()  # opens the session now, inside the running loop
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    def _twilio_messages(self) -> Any:
        if self._messages is None:
            asyncio.get_running_loop()  # fail here, not deep in aiohttp, when called outside one
            self._http = _RebasedHttpClient(self._api_url)
            client = Client(
                username=self._account_sid,
                password=self._auth_token,
                account_sid=self._account_sid,
                http_client=self._http,
            )
            self._messages = client.messages
        return self._messages

    async def send(self, sms: OutboundSms) -> SendOutcome:
        if self._closed:
            return RetryLater(reason="sender closed")
        messages = self._twilio_messages()
        exchange = _Exchange()
        token = _current_exchange.set(exchange)
        outcome: SendOutcome
        try:
            async with asyncio.timeout(self._timeout):
                message = await messages.create_async(
                    to=sms.to_number,
                    from_=sms.from_number,
                    body=sms.body,
                    status_callback=sms.status_callback or values.unset,
                )
        except (TwilioRestException, TwilioServiceException) as exc:
            status = exchange.status if exchange.status is not None else exc.status
            outcome = _outcome_for_status(status, _error_code(exc), exchange.retry_after)
        # ValueError: a 2xx whose body is not JSON; the exchange says the request was sent.
        except (TimeoutError, aiohttp.ClientError, OSError, ValueError) as exc:
            outcome = _outcome_for_failure(exchange, exc)
        else:
            sid = message.sid
            if isinstance(sid, str) and sid:
                outcome = Sent(sid=sid)
            else:
                outcome = Unknown(reason=f"http {exchange.status} without a message sid")
        finally:
            _current_exchange.reset(token)
        _log_outcome(outcome)
        return outcome

    async def find_sent(
        self, sms: OutboundSms, since: datetime, *, exclude: Collection[str] = ()
    ) -> str | None:
        """Ask Twilio for a message like `sms` created at or after `since` (timezone-aware),
        other than those in `exclude`.

        Returns the oldest matching SID, None when Twilio has none, and raises
        `ReconciliationError` when Twilio cannot be asked. Twilio's timestamps have whole
        seconds and its own clock, hence the `clock_skew` allowance below `since`. The list
        is not filtered by date: a message still in Twilio's queue has no send date, and a
        date filter would miss it (and the caller would send it again).
        """
        if since.tzinfo is None:
            raise ValueError("since must be timezone-aware")
        if self._closed:
            raise ReconciliationError("sender closed")
        earliest = since.astimezone(UTC).replace(microsecond=0) - self._clock_skew
        messages = self._twilio_messages()
        exchange = _Exchange()
        token = _current_exchange.set(exchange)
        try:
            async with asyncio.timeout(self._timeout):
                found = await messages.list_async(
                    to=sms.to_number,
                    from_=sms.from_number,
                    limit=_RECONCILE_LIMIT,
                    page_size=_RECONCILE_PAGE,
                )
        # TwilioException covers non-200 pages; its message can quote numbers, so it is not
        # chained.
        except (TwilioException, TimeoutError, aiohttp.ClientError, OSError, ValueError) as exc:
            status = exchange.status
            log.warning("sms_reconcile_failed", error_type=type(exc).__name__, status=status)
            reason = f"could not list messages ({type(exc).__name__}, http {status})"
            if status is not None and 400 <= status < 500 and status != 429:
                raise ReconciliationRefusedError(reason) from None
            raise ReconciliationError(reason) from None
        finally:
            _current_exchange.reset(token)
        matches: list[tuple[datetime, str]] = []
        for message in found:
            created = message.date_created or message.date_sent
            if (
                message.body == sms.body
                and message.to == sms.to_number
                and message.from_ == sms.from_number
                and isinstance(created, datetime)
                and created >= earliest
                and isinstance(message.sid, str)
                and message.sid not in exclude
            ):
                matches.append((created, message.sid))
        if not matches:
            log.info("sms_reconciled", count=0)
            return None
        _, sid = min(matches)
        log.info("sms_reconciled", sid=sid, count=len(matches))
        return sid

    async def close(self) -> None:
        self._closed = True
        if self._http is not None:
            await self._http.close()
            self._http = None
