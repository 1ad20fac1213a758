"""Posting webhooks as Twilio does: form-encoded and signed with twilio's RequestValidator."""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import Any

from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient
from twilio.request_validator import RequestValidator

from tests.conftest import AUTH_TOKEN

PUBLIC_URL = "https://gateway.example.test"
_sids = itertools.count(1)


def new_sid() -> str:
    return f"SM{next(_sids):032x}"


def sign(path: str, params: Mapping[str, str], token: str = AUTH_TOKEN) -> str:
    return str(RequestValidator(token).compute_signature(PUBLIC_URL + path, dict(params)))


def sms_params(from_: str, to: str, body: str | None, sid: str | None = None) -> dict[str, str]:
    params = {
        "MessageSid": sid or new_sid(),
        "AccountSid": "AC" + "0" * 32,
        "From": from_,
        "To": to,
        "NumMedia": "0",
    }
    if body is not None:
        params["Body"] = body
    return params


async def post_signed(
    client: TestClient[Any, Any], path: str, params: Mapping[str, str], signature: str | None = None
) -> ClientResponse:
    headers = {"X-Twilio-Signature": signature if signature is not None else sign(path, params)}
    return await client.post(path, data=dict(params), headers=headers)


async def send_sms(
    client: TestClient[Any, Any], from_: str, to: str, body: str | None, sid: str | None = None
) -> tuple[int, str]:
    response = await post_signed(client, "/twilio/sms", sms_params(from_, to, body, sid))
    return response.status, await response.text()
