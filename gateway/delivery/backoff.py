"""How long to wait before sending again after Twilio said "not now"."""

from __future__ import annotations

from datetime import timedelta
from typing import Final

_FIRST_SECONDS: Final = 10.0
_CAP_SECONDS: Final = 15 * 60.0
# Crisis alerts are worth hammering a little (there are few of them): they are tried again
# within seconds, so that the alert goes as soon as Twilio answers again.
_ALERT_FIRST_SECONDS: Final = 1.0
_ALERT_CAP_SECONDS: Final = 5.0
# A Retry-After beyond this is treated as a mistake rather than honoured for days.
_MAX_RETRY_AFTER: Final = 60 * 60.0


def retry_delay(
    attempt: int, *, retry_after: float | None, jitter: float, urgent: bool
) -> timedelta:
    """The wait before attempt `attempt + 1`, doubling from 10 s up to 15 minutes (an alert:
    from 1 s up to 5 s).

    `jitter` in [0, 1) spreads retries over the upper half of the wait, so that workers that
    failed together do not all come back in the same instant. Twilio's Retry-After is a
    floor, up to the cap for an alert: no throttle delays a crisis alert for long.
    """
    first, cap = (
        (_ALERT_FIRST_SECONDS, _ALERT_CAP_SECONDS) if urgent else (_FIRST_SECONDS, _CAP_SECONDS)
    )
    exponential = min(cap, first * 2 ** max(0, min(attempt - 1, 30)))
    seconds = exponential * (0.5 + 0.5 * jitter)
    if retry_after is not None:
        floor = min(retry_after, _MAX_RETRY_AFTER)
        seconds = max(seconds, min(floor, cap) if urgent else floor)
    return timedelta(seconds=seconds)
