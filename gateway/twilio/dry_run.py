"""An `SmsSender` that sends nothing: what the gateway uses without Twilio credentials.

Messages are kept in memory (the newest `capacity`) and, with `echo=True`, written one line
each to a stream. That line carries numbers and body on purpose: it is the development
console showing synthetic data, never a log event, and the app turns it on only in
development.
"""

from __future__ import annotations

import secrets
import sys
from collections import deque
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import TextIO

from gateway.clock import Clock, SystemClock
from gateway.twilio.sender import OutboundSms, SendOutcome, Sent

__all__ = ["DryRunSender", "RecordedSms"]


@dataclass(frozen=True, slots=True)
class RecordedSms:
    sid: str
    sms: OutboundSms
    at: datetime


def _one_line(text: str) -> str:
    # One message, one console line, whatever the body holds.
    return text.replace("\\", "\\\\").replace("\r", "\\r").replace("\n", "\\n")


class DryRunSender:
    def __init__(
        self,
        *,
        echo: bool = False,
        stream: TextIO | None = None,
        capacity: int = 1000,
        clock: Clock | None = None,
    ) -> None:
        self._echo = echo
        self._stream = stream
        self._clock = clock or SystemClock()
        self._sent: deque[RecordedSms] = deque(maxlen=capacity)

    @property
    def sent(self) -> list[RecordedSms]:
        """The recorded messages, oldest first."""
        return list(self._sent)

    async def send(self, sms: OutboundSms) -> SendOutcome:
        sid = "DRY" + secrets.token_hex(16)
        self._sent.append(RecordedSms(sid=sid, sms=sms, at=self._clock.now()))
        if self._echo:
            # sys.stderr is looked up now, not at construction, so that test capture sees it.
            stream = self._stream if self._stream is not None else sys.stderr
            stream.write(
                f"[dry-run] SMS from {sms.from_number} to {sms.to_number}: {_one_line(sms.body)}\n"
            )
            stream.flush()
        return Sent(sid=sid)

    async def find_sent(
        self, sms: OutboundSms, since: datetime, *, exclude: Collection[str] = ()
    ) -> str | None:
        # The callback URL is not compared, as Twilio's message list cannot show it either.
        for recorded in self._sent:
            if (
                recorded.sid not in exclude
                and recorded.sms.from_number == sms.from_number
                and recorded.sms.to_number == sms.to_number
                and recorded.sms.body == sms.body
                and recorded.at >= since
            ):
                return recorded.sid
        return None

    async def close(self) -> None:
        """Nothing to release; the record stays readable."""
