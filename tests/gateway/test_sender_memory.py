"""What the process remembers of each sender for the loop and flood guard."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from gateway.sender_memory import WINDOW, SenderMemory
from rules.engine import FLOOD_LIMIT, FLOOD_REPLIES

START = datetime(2026, 12, 1, 3, 24, tzinfo=UTC)


def test_arrivals_and_auto_replies_are_counted_within_the_window() -> None:
    memory = SenderMemory()
    for second in range(FLOOD_LIMIT + 2):
        history = memory.arrive("sender", START + timedelta(seconds=second), opted_out=False)
        if second == 0:
            memory.auto_replied("sender", "period-1", START)
    assert history.recent_messages == FLOOD_LIMIT
    assert history.recent_auto_replies == 1
    assert history.auto_replied == frozenset({"period-1"})

    memory.auto_replied("sender", "period-2", START + timedelta(minutes=7))
    later = memory.arrive("sender", START + timedelta(minutes=8), opted_out=False)
    assert later.recent_auto_replies == FLOOD_REPLIES

    quiet = memory.arrive("sender", START + timedelta(minutes=7) + WINDOW, opted_out=False)
    assert (quiet.recent_messages, quiet.recent_auto_replies) == (1, 1)
    assert quiet.auto_replied == frozenset({"period-1", "period-2"})
