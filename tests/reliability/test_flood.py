"""A flood of webhooks from one number: every message is stored, auto-replies stop after the
first (the loop guard), a crisis in the middle of it is still answered, and `/healthz` keeps
answering quickly throughout."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from datetime import timedelta
from typing import Any

import pytest

from gateway.settings import Settings
from tests.integration.conftest import (
    CASEY,
    LEE_NUMBER,
    import_practice,
    make_app,
    table_rows,
)
from tests.support.clock import FixedClock
from tests.support.twilio_client import new_sid, send_sms

FLOOD = 60
WAVES = 6  # of ten at once, ten seconds apart: sixty messages within a minute
CRISIS_AT = 45
PROBES_PER_WAVE = 3
# Generous for a loaded two-core machine; a probe stuck behind the flood would take seconds.
SLOWEST_PROBE_SECONDS = 1.0


@pytest.mark.slow
async def test_a_flood_from_one_number_is_stored_whole_and_auto_replied_once(
    settings: Settings, clock: FixedClock, aiohttp_client: Any
) -> None:
    await import_practice(settings)
    client = await aiohttp_client(make_app(settings, clock))
    probes: list[tuple[int, float]] = []

    async def probe_health() -> None:
        started = time.monotonic()
        response = await client.get("/healthz")
        await response.read()
        probes.append((response.status, time.monotonic() - started))

    async def flood() -> list[tuple[str, int, str]]:
        answers = []
        per_wave = FLOOD // WAVES
        for wave in range(WAVES):
            numbers = range(wave * per_wave, (wave + 1) * per_wave)
            sids = [new_sid() for _ in numbers]
            texts = [
                "i want to end my life tonight" if n == CRISIS_AT else f"are you there {n}"
                for n in numbers
            ]
            # Health probes go out with each wave, so they meet it in flight.
            sending = asyncio.gather(
                *(
                    send_sms(client, CASEY, LEE_NUMBER, text, sid)
                    for sid, text in zip(sids, texts, strict=True)
                )
            )
            probing = asyncio.gather(*(probe_health() for _ in range(PROBES_PER_WAVE)))
            results, _ = await asyncio.gather(sending, probing)
            answers += [(sid, *result) for sid, result in zip(sids, results, strict=True)]
            clock.advance(timedelta(seconds=10))
        return answers

    async with asyncio.timeout(60):
        answers = await flood()

    assert {status for _, status, _ in answers} == {200}
    # Casey's therapist is closed at this hour: without the guard each message would be
    # answered, as a loop with an auto-responder would want.
    replies = [twiml for _, _, twiml in answers if "<Message>" in twiml]
    crisis = [twiml for twiml in replies if "988" in twiml and "will read" not in twiml]
    assert len(crisis) == 1
    assert len(replies) - len(crisis) <= 1

    messages = await table_rows(settings, "messages")
    assert Counter(row.sid for row in messages) == {sid: 1 for sid, _, _ in answers}
    decided = {row.message_id for row in await table_rows(settings, "decisions")}
    assert decided == {row.id for row in messages}
    received = [
        row
        for row in await table_rows(settings, "audit_events")
        if row.action == "message_received"
    ]
    assert len(received) == FLOOD

    assert len(probes) == WAVES * PROBES_PER_WAVE
    assert {status for status, _ in probes} == {200}
    assert max(seconds for _, seconds in probes) < SLOWEST_PROBE_SECONDS
