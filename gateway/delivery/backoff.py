"""How long to wait before sending again after Twilio said "not now"."""

from __future__ import annotations

from datetime import timedelta
from typing import Final

_FIRST_SECONDS: Final = 10.0
_CAP_SECONDS: Final = 15 * 60.0
# Crisis alerts are worth hammering a little: they never wait more than this on our side.
_ALERT_CAP_SECONDS: Final = 60.0
# A Retry-After beyond this is treated as a mistake rather than honoured for days.
_MAX_RETRY_AFTER: Final = 60 * 60.0


def retry_delay(
    attempt: int, *, retry_after: float | None, jitter: float, urgent: bool
) -> timedelta:
    """The wait before attempt `attempt + 1`, doubling from 10 s up to a cap.

    `jitter` in [0, 1) spreads retries over the upper half of the wait, so that workers that
    failed together do not all come back in the same instant. Twilio's Retry-After is a
    floor.
    """
    cap = _ALERT_CAP_SECONDS if urgent else _CAP_SECONDS
    exponential = min(cap, _FIRST_SECONDS * 2 ** max(0, min(attempt - 1, 30)))
    seconds = exponential * (0.5 + 0.5 * jitter)
    if retry_after is not None:
        seconds = max(seconds, min(retry_after, _MAX_RETRY_AFTER))
    return timedelta(seconds=seconds)
