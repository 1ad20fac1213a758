"""Texts the gateway sends to therapists: forwards, notices and crisis alerts.

Notices and alerts carry no message content and no phone number: they name the client by
their handle (or name, for alerts), so a lost phone reveals as little as possible.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from rules.keywords import visible
from rules.wording import clock_time, zone_abbreviation


def handle(client_id: str) -> str:
    """How a client is named in forwards, and how a therapist replies by SMS (`#c1001 text`)."""
    return f"#{client_id}"


# A text without anything to read (a picture sent alone arrives with an empty body).
EMPTY_BODY = "(no text)"


def _shown(body: str) -> str:
    return body if visible(body) else EMPTY_BODY


def forward_text(client_name: str, client_id: str, body: str) -> str:
    return f"{client_name} ({handle(client_id)}): {_shown(body)}\n{_reply_hint(client_id)}"


def _reply_hint(client_id: str) -> str:
    return f"Reply with {handle(client_id)} and your text."


def notify_text(client_id: str) -> str:
    return f"New message from {handle(client_id)} in your inbox."


def digest_text(client_name: str, client_id: str, bodies: list[str]) -> str:
    """Several held messages from one client, delivered together when the window opens."""
    lines = "\n".join(f"- {_shown(body)}" for body in bodies)
    heading = f"{client_name} ({handle(client_id)}), {len(bodies)} messages:"
    return f"{heading}\n{lines}\n{_reply_hint(client_id)}"


def notify_digest_text(client_id: str, count: int) -> str:
    return f"{count} new messages from {handle(client_id)} in your inbox."


def _local_time(at: datetime, timezone: str) -> str:
    local = at.astimezone(ZoneInfo(timezone))
    return f"{clock_time(local)} {zone_abbreviation(local)}"


def crisis_alert_text(
    who: str, at: datetime, timezone: str, message_id: str, *, answered: bool = True
) -> str:
    """`who` is the client's name or "unknown sender"; never content or a phone number.
    `answered` is false for a sender that is not a phone, which gets no reply at all."""
    reply = (
        "The sender got crisis resources."
        if answered
        else "The sender is not a phone number and got no reply."
    )
    return (
        f"Possible crisis from {who} at {_local_time(at, timezone)} (message {message_id[:8]}). "
        f"{reply} Please check the inbox now."
    )


def opt_out_notice(client_id: str) -> str:
    return (
        f"{handle(client_id)} opted out of texts from the practice number. "
        "They get only crisis replies until they text START."
    )
