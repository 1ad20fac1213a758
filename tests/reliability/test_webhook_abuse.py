"""Whatever arrives at the webhooks or the API, the gateway never answers 500, and nothing
reaches the database through a webhook without a valid Twilio signature.

Hypothesis throws forms, raw bytes, JSON, text encodings, sizes on both sides of the 64 KiB
limit, query strings, methods and headers at the real app, with a valid signature, a wrong one
or none; and arbitrary JSON and query strings at a few API routes, with good, bad and no
tokens. After each request the rows are counted again.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final
from urllib.parse import parse_qsl, quote, urlencode

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine
from yarl import URL

from gateway.db.engine import create_engine
from gateway.db.tables import AuditEventRow, MessageRow, OutboxRow, StatusEventRow
from gateway.settings import Settings
from tests.integration.api.conftest import issue_token
from tests.integration.conftest import (
    LEE_NUMBER,
    RILEY,
    STRANGER,
    TUESDAY_10AM_NY,
    import_practice,
    make_app,
)
from tests.support.clock import FixedClock
from tests.support.twilio_client import sign

Client = TestClient[web.Request, web.Application]
FORM: Final = "application/x-www-form-urlencoded"
MAX_BODY: Final = 64 * 1024
# Answers a bad request may get; a 5xx is never among them.
REFUSALS: Final = frozenset({400, 403, 405, 413})
EXAMPLES: Final = 100


@dataclass(frozen=True, slots=True)
class Webhook:
    method: str
    path: str  # with its query string, encoded as sent
    body: bytes
    content_type: str | None
    signature: str  # "valid", "wrong" or "none"
    forged: str
    headers: dict[str, str]

    def params(self) -> dict[str, str]:
        """The form as Twilio would have signed it."""
        if self.content_type is None or self.content_type.split(";")[0].strip() != FORM:
            return {}
        text = self.body.decode("utf-8", errors="replace")
        return dict(parse_qsl(text, keep_blank_values=True, errors="replace"))

    def request_headers(self) -> dict[str, str]:
        headers = dict(self.headers)
        if self.content_type is not None:
            headers["Content-Type"] = self.content_type
        if self.signature == "valid":
            headers["X-Twilio-Signature"] = sign(self.path, self.params())
        elif self.signature == "wrong":
            headers["X-Twilio-Signature"] = self.forged
        return headers


printable = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=40)
field_names = st.sampled_from(
    ["MessageSid", "From", "To", "Body", "AccountSid", "NumMedia", "MessageStatus", "ErrorCode"]
) | st.text(max_size=12)
field_values = (
    st.sampled_from([RILEY, LEE_NUMBER, STRANGER, "STOP", "HELP", "delivered", "", " ", "SM1"])
    | st.text(max_size=300)
    | st.from_regex(r"\ASM[0-9a-f]{32}\Z")
)
forms = st.dictionaries(field_names, field_values, max_size=8)
encodings = st.sampled_from(["utf-8", "latin-1", "cp1252", "utf-16"])


complete_forms = st.builds(
    lambda sid, sender, body, status, extra: {
        **extra,
        "MessageSid": sid,
        "From": sender,
        "To": LEE_NUMBER,
        "Body": body,
        "MessageStatus": status,
    },
    st.from_regex(r"\ASM[0-9a-f]{32}\Z"),
    st.sampled_from([RILEY, STRANGER, "72345", "PHARMACY", "+1555"]) | st.text(max_size=20),
    st.text(max_size=400),
    st.sampled_from(["queued", "sent", "delivered", "undelivered", "failed"]) | printable,
    forms,
)


@st.composite
def bodies(draw: st.DrawFn) -> bytes:
    kind = draw(
        st.sampled_from(["twilio", "twilio", "form", "form", "raw", "json", "text", "huge"])
    )
    if kind == "twilio":
        # Twilio's own shape: what a valid signature usually comes with.
        return urlencode(draw(complete_forms)).encode("ascii")
    if kind == "form":
        return urlencode(draw(forms), encoding=draw(encodings), errors="replace").encode("ascii")
    if kind == "raw":
        return draw(st.binary(max_size=2048))
    if kind == "json":
        return json.dumps(draw(forms)).encode()
    if kind == "text":
        return draw(st.text(max_size=500)).encode(draw(encodings), errors="replace")
    # Either side of the limit, without generating the bytes one by one.
    return b"Body=" + b"x" * draw(st.integers(MAX_BODY - 100, MAX_BODY + 2000))


header_names = st.from_regex(r"\A[A-Za-z][A-Za-z0-9-]{0,15}\Z").filter(
    lambda name: (
        name.lower()
        not in {
            "content-length",
            "content-type",
            "transfer-encoding",
            "host",
            "connection",
            "expect",
        }
        and not name.lower().startswith(("x-twilio", "content-"))
    )
)


@st.composite
def webhooks(draw: st.DrawFn) -> Webhook:
    path = draw(st.sampled_from(["/twilio/sms", "/twilio/status"]))
    query = draw(st.dictionaries(st.text(max_size=8), st.text(max_size=20), max_size=3))
    if query:
        path += "?" + urlencode(query, quote_via=quote)
    return Webhook(
        method=draw(st.sampled_from(["POST"] * 8 + ["GET", "PUT", "DELETE", "PATCH"])),
        path=path,
        body=draw(bodies()),
        content_type=draw(
            st.sampled_from(
                [
                    FORM,
                    FORM,
                    FORM + "; charset=utf-8",
                    FORM + "; charset=latin-1",
                    "application/json",
                    "text/plain; charset=utf-16",
                    "multipart/form-data; boundary=x",
                    None,
                ]
            )
            | printable
        ),
        signature=draw(st.sampled_from(["valid", "valid", "wrong", "none"])),
        forged=draw(printable),
        headers=draw(st.dictionaries(header_names, printable, max_size=3)),
    )


async def stored(engine: AsyncEngine) -> tuple[int, ...]:
    async with engine.connect() as connection:
        return tuple(
            [
                (await connection.execute(select(func.count()).select_from(table))).scalar_one()
                for table in (MessageRow, StatusEventRow, OutboxRow, AuditEventRow)
            ]
        )


@pytest.fixture
async def client(settings: Settings, aiohttp_client: Any) -> Client:
    await import_practice(settings)
    app_client: Client = await aiohttp_client(make_app(settings, FixedClock(TUESDAY_10AM_NY)))
    return app_client


@pytest.fixture
async def db(settings: Settings) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(settings.database_url)
    yield engine
    await engine.dispose()


@pytest.mark.slow
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    # One app and database serve every example on purpose: rows are counted around each.
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(webhook=webhooks())
async def test_webhooks_never_answer_500_nor_store_anything_unsigned(
    client: Client, db: AsyncEngine, webhook: Webhook
) -> None:
    before = await stored(db)
    response = await client.request(
        webhook.method,
        URL(webhook.path, encoded=True),  # sent exactly as signed
        data=webhook.body,
        headers=webhook.request_headers(),
    )
    await response.read()
    event(f"{webhook.signature} signature: {response.status}")  # --hypothesis-show-statistics
    assert response.status < 500, response.status
    if webhook.signature != "valid":
        assert response.status in REFUSALS
        assert await stored(db) == before
    elif webhook.method == "POST" and len(webhook.body) <= MAX_BODY:
        # A valid signature is never refused as a signature, whatever else is wrong.
        assert response.status != 403


# The API ---------------------------------------------------------------------------------

json_keys = st.sampled_from(
    [
        *("hours", "mon", "tue", "public_holidays", "start", "end", "note"),
        *("client", "body", "urgent", "reason", "from", "to", "at"),
    ]
) | st.text(max_size=8)
json_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=30)
    | st.sampled_from(
        [
            *("09:00-17:00", "24:00-09:00", "2026-12-01", "2026-12-01T10:00:00-05:00"),
            *("c1002", RILEY, LEE_NUMBER, "9999-12-31T23:59:59+14:00", "0001-01-01"),
        ]
    )
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(json_keys, children, max_size=5)
    ),
    max_leaves=12,
)
api_writes = st.sampled_from(
    [
        ("POST", "/api/v1/preview"),
        ("PUT", "/api/v1/therapists/lee/hours"),
        ("POST", "/api/v1/therapists/lee/time-off"),
        ("POST", "/api/v1/messages"),
    ]
)
api_reads = st.sampled_from(
    ["/api/v1/messages", "/api/v1/clients", "/api/v1/audit", "/api/v1/therapists/lee/hours"]
)
query_keys = st.sampled_from(
    ["client", "therapist", "flag", "since", "until", "limit", "cursor", "reason"]
) | st.text(max_size=6)


@dataclass(frozen=True, slots=True)
class ApiCall:
    method: str
    path: str
    body: bytes | None
    token: str  # "admin", "lee", "wrong" or "none"


@st.composite
def api_calls(draw: st.DrawFn) -> ApiCall:
    token = draw(st.sampled_from(["admin", "lee", "lee", "wrong", "none"]))
    if draw(st.booleans()):
        method, path = draw(api_writes)
        raw = draw(st.booleans())
        body = draw(st.binary(max_size=300)) if raw else json.dumps(draw(json_values)).encode()
        return ApiCall(method, path, body, token)
    path = draw(api_reads)
    query = draw(st.lists(st.tuples(query_keys, st.text(max_size=30)), max_size=4))
    if query:
        path += "?" + urlencode(query, quote_via=quote)
    return ApiCall("GET", path, None, token)


@pytest.fixture
async def tokens(settings: Settings, client: Client) -> dict[str, str]:
    now: datetime = TUESDAY_10AM_NY
    return {
        "admin": await issue_token(settings, now, role="admin"),
        "lee": await issue_token(settings, now, role="therapist", therapist_id="lee"),
        "wrong": "bgw_" + "x" * 40,
    }


@pytest.mark.slow
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(call=api_calls())
async def test_the_api_never_answers_500_and_changes_nothing_without_a_token(
    client: Client, db: AsyncEngine, tokens: dict[str, str], call: ApiCall
) -> None:
    before = await stored(db)
    headers = {"Content-Type": "application/json"}
    if call.token in tokens:
        headers["Authorization"] = f"Bearer {tokens[call.token]}"
    response = await client.request(
        call.method, URL(call.path, encoded=True), data=call.body, headers=headers
    )
    await response.read()
    event(f"{call.token} token: {response.status}")  # --hypothesis-show-statistics
    assert response.status < 500, response.status
    if call.token not in ("admin", "lee"):
        assert response.status == 401
        assert await stored(db) == before
