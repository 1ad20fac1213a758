"""Per-sender facts this process remembers between messages: recent arrivals (the loop and
flood guard) and the periods already auto-replied. Bounded in senders and compact per sender
(a few hundred bytes), so memory stays flat however many messages arrive."""

from __future__ import annotations

from collections import OrderedDict
from datetime import datetime, timedelta
from typing import Final

from rules.engine import FLOOD_LIMIT, FLOOD_REPLIES
from rules.model import SenderHistory

WINDOW: Final = timedelta(minutes=10)
MAX_SENDERS: Final = 50_000
# Periods older than the newest few are never asked about again.
MAX_PERIODS: Final = 4


class _Sender:
    __slots__ = ("arrivals", "periods", "replied")

    def __init__(self) -> None:
        # The newest arrivals, as POSIX seconds: the guard only asks whether there were at
        # least FLOOD_LIMIT in the window, so no more than that are kept.
        self.arrivals: tuple[float, ...] = ()
        self.periods: tuple[str, ...] = ()
        # The newest auto-replies, as POSIX seconds; likewise no more than the guard asks of.
        self.replied: tuple[float, ...] = ()


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
        now = at.timestamp()
        since = now - WINDOW.total_seconds()
        recent = tuple(moment for moment in sender.arrivals if moment >= since)
        history = SenderHistory(
            opted_out=self._opt_outs.get(index, opted_out),
            auto_replied=frozenset(sender.periods),
            recent_messages=len(recent),
            recent_auto_replies=sum(moment >= since for moment in sender.replied),
        )
        sender.arrivals = (*recent, now)[-FLOOD_LIMIT:]
        return history

    def auto_replied(self, index: str, period: str, at: datetime) -> None:
        sender = self._get(index)
        sender.periods = (*sender.periods, period)[-MAX_PERIODS:]
        sender.replied = (*sender.replied, at.timestamp())[-FLOOD_REPLIES:]

    def opted(self, index: str, *, opted_out: bool) -> None:
        """This process's own opt-out changes count at once, before the reload shows them."""
        self._opt_outs[index] = opted_out

    def opt_changes(self) -> dict[str, bool]:
        """This process's opt-out changes by phone index, until the reload shows them."""
        return dict(self._opt_outs)

    def forget_opt_changes(self) -> None:
        """After a configuration reload the stored state is authoritative again."""
        self._opt_outs.clear()
