"""GET /api/v1/audit: the audit log for admins, newest first, paged."""

from __future__ import annotations

from datetime import timedelta

from tests.integration.api.conftest import Api, Tokens
from tests.support.clock import FixedClock


async def test_admins_read_the_audit_log_newest_first_in_pages(
    admin: Api, lee: Api, clock: FixedClock, tokens: Tokens
) -> None:
    for day in ("2027-01-04", "2027-01-05", "2027-01-06"):
        clock.advance(timedelta(minutes=1))
        await lee.post("/therapists/lee/time-off", {"start": day, "end": day})
    everything = (await admin.get("/audit", limit="1000")).json["items"]
    seqs = [item["seq"] for item in everything]
    assert seqs == sorted(seqs, reverse=True)
    newest = everything[0]
    assert newest["action"] == "availability_changed"
    assert newest["actor"] == f"token:{tokens.lee.split('_')[1]}"
    assert newest["subject"] == "therapist:lee"
    assert newest["details"]["start"] == "2027-01-06"
    assert newest["at"] == "2026-12-01T15:03:00Z"
    assert set(newest) == {"seq", "at", "actor", "action", "subject", "details"}

    paged: list[int] = []
    cursor = None
    for _ in range(len(seqs) + 1):
        params = {"limit": "2"} | ({"cursor": cursor} if cursor else {})
        page = (await admin.get("/audit", **params)).json
        paged += [item["seq"] for item in page["items"]]
        cursor = page["next"]
        if cursor is None:
            break
    assert paged == seqs


async def test_the_audit_log_filters_by_time(admin: Api, lee: Api, clock: FixedClock) -> None:
    clock.advance(timedelta(hours=1))
    await lee.post("/therapists/lee/time-off", {"start": "2027-01-04", "end": "2027-01-04"})
    since = (clock.at - timedelta(minutes=1)).isoformat()
    answer = await admin.get("/audit", since=since)
    assert [item["action"] for item in answer.json["items"]] == ["availability_changed"]
    assert (await admin.get("/audit", since="2026-12-01T10:00")).status == 400
