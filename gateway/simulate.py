"""`gateway simulate`: play a client by posting an inbound SMS exactly as Twilio would."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Final
from xml.etree import ElementTree

import aiohttp
from twilio.request_validator import RequestValidator

SMS_PATH: Final = "/twilio/sms"
NO_REPLY: Final = "(no reply)"
TIMEOUT_SECONDS: Final = 15.0
# Any well-formed account id: the gateway checks the signature, not the account.
SIMULATED_ACCOUNT_SID: Final = "AC" + "0" * 32


@dataclass(frozen=True, slots=True)
class SimulatedSms:
    from_number: str
    to_number: str
    text: str


@dataclass(frozen=True, slots=True)
class GatewayAnswer:
    status: int
    text: str

    @property
    def replies(self) -> tuple[str, ...]:
        """The texts of the TwiML answer's `<Message>` elements."""
        return twiml_messages(self.text)


def twilio_form(sms: SimulatedSms) -> dict[str, str]:
    return {
        "MessageSid": "SM" + secrets.token_hex(16),
        "AccountSid": SIMULATED_ACCOUNT_SID,
        "From": sms.from_number,
        "To": sms.to_number,
        "Body": sms.text,
        "NumMedia": "0",
    }


def signature(auth_token: str, public_url: str, form: dict[str, str]) -> str:
    """What Twilio would send: the gateway checks against its public URL, wherever it runs."""
    validator = RequestValidator(auth_token)
    return str(validator.compute_signature(public_url.rstrip("/") + SMS_PATH, form))


def twiml_messages(twiml: str) -> tuple[str, ...]:
    try:
        # The answer comes from our own gateway, and expat (2.4.1 and later) refuses
        # entity-expansion bombs anyway.
        root = ElementTree.fromstring(twiml)  # noqa: S314 - see above
    except ElementTree.ParseError:
        return ()
    return tuple(element.text or "" for element in root.iter("Message"))


async def post_sms(
    sms: SimulatedSms,
    *,
    url: str,
    public_url: str,
    auth_token: str,
) -> GatewayAnswer:
    """Posts the signed form to `url` + /twilio/sms and returns the gateway's answer."""
    form = twilio_form(sms)
    headers = {"X-Twilio-Signature": signature(auth_token, public_url, form)}
    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=TIMEOUT_SECONDS)) as session,
        session.post(url.rstrip("/") + SMS_PATH, data=form, headers=headers) as response,
    ):
        return GatewayAnswer(response.status, await response.text())


def describe(answer: GatewayAnswer) -> str:
    """The reply in plain words, as a client would read it on their phone."""
    replies = answer.replies
    return "\n".join(replies) if replies else NO_REPLY
