"""Sending many outbox messages at once."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from gateway.twilio.sender import OutboundSms, SendOutcome, SmsSender, Unknown


async def send_all(sender: SmsSender, messages: Sequence[OutboundSms]) -> list[SendOutcome]:
    """Every message sent at the same time, except that those to one phone go one after
    another, in the order given, so that they arrive in that order. A send that raised may
    have reached Twilio: its outcome is Unknown, to be reconciled, never resent blindly."""
    by_recipient: dict[str, list[int]] = {}
    for position, sms in enumerate(messages):
        by_recipient.setdefault(sms.to_number, []).append(position)
    results: list[SendOutcome] = [Unknown(reason="not sent")] * len(messages)

    async def in_turn(positions: list[int]) -> None:
        for position in positions:
            try:
                results[position] = await sender.send(messages[position])
            except Exception as exc:  # noqa: BLE001 - any failure is an unknown outcome
                results[position] = Unknown(reason=type(exc).__name__)

    await asyncio.gather(*(in_turn(positions) for positions in by_recipient.values()))
    return results
