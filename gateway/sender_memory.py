"""Per-sender facts this process remembers between messages: recent arrivals (the loop and
flood guard) and the periods already auto-replied. Bounded, so memory stays flat."""

from __future__ import annotations

from collections import OrderedDict, deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Final

from rules.model import SenderHistory

WINDOW: Final = timedelta(minutes=10)
MAX_SENDERS: Final = 50_000
# Periods older than the newest few are never asked about again.
MAX_PERIODS: Final = 4


@dataclass(slots=True)
class _Sender:
    arrivals: deque[datetime] = field(default_factory=deque)
    periods: deque[str] = field(default_factory=lambda: deque(maxlen=MAX_PERIODS))


class SenderMemory:
    def __init__(self, capacity: int = MAX_SENDERS) -> None:
        self._capacity = capacity
        self._senders: OrderedDict[str, _Sender] = OrderedDict()
        self._opt_outs: dict[str, bool] = {}

    def _get(self, index: str) -> _Sender:
        sender = self._senders.get(index)
        if sender is None:
            sender = self._senders[index] = _Sender()
            if len(self._senders) > self._capacity:
                self._senders.popitem(last=False)
        else:
            self._senders.move_to_end(index)
        return sender

    def arrive(self, index: str, at: datetime, *, opted_out: bool) -> SenderHistory:
        """Record an arrival; the history as it stood before it."""
        sender = self._get(index)
        while sender.arrivals and at - sender.arrivals[0] > WINDOW:
            sender.arrivals.popleft()
        history = SenderHistory(
            opted_out=self._opt_outs.get(index, opted_out),
            auto_replied=frozenset(sender.periods),
            recent_messages=len(sender.arrivals),
        )
        sender.arrivals.append(at)
        return history

    def auto_replied(self, index: str, period: str) -> None:
        self._get(index).periods.append(period)

    def opted(self, index: str, *, opted_out: bool) -> None:
        """This process's own opt-out changes count at once, before the reload shows them."""
        self._opt_outs[index] = opted_out

    def forget_opt_changes(self) -> None:
        """After a configuration reload the stored state is authoritative again."""
        self._opt_outs.clear()
