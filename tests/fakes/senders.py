"""A sender that passes everything to another: tests override `send` to inject a fault."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from gateway.twilio.sender import OutboundSms, SendOutcome, SmsSender


class WrappingSender:
    def __init__(self, sender: SmsSender) -> None:
        self._sender = sender

    async def send(self, sms: OutboundSms) -> SendOutcome:
        return await self._sender.send(sms)

    async def find_sent(
        self, sms: OutboundSms, since: datetime, *, exclude: Collection[str] = ()
    ) -> str | None:
        return await self._sender.find_sent(sms, since, exclude=exclude)

    async def close(self) -> None:
        await self._sender.close()
