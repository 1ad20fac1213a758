"""GET /api/v1/export: metadata and decisions as JSON lines or CSV, audited with a reason."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta

from gateway.settings import Settings
from tests.integration.api.conftest import Api, Client
from tests.integration.conftest import CASEY, LEE_NUMBER, RILEY, table_rows
from tests.support.clock import FixedClock
from tests.support.twilio_client import send_sms


async def two_messages(gateway: Client, clock: FixedClock) -> None:
    await send_sms(gateway, RILEY, LEE_NUMBER, "see you thursday")
    clock.advance(timedelta(minutes=1))
    await send_sms(gateway, CASEY, LEE_NUMBER, "i want to kill myself")


async def exports(settings: Settings) -> list[dict[str, object]]:
    return [
        row.details for row in await table_rows(settings, "audit_events") if row.action == "export"
    ]


async def test_an_export_as_json_lines_is_audited_with_reason_and_count(
    gateway: Client, clock: FixedClock, admin: Api, imported: Settings
) -> None:
    await two_messages(gateway, clock)
    answer = await admin.get("/export", reason="records request #12", format="jsonl")
    assert answer.status == 200
    assert answer.headers["Content-Type"].startswith("application/x-ndjson")
    lines = [json.loads(line) for line in answer.text.splitlines()]
    assert [line["client"] for line in lines] == ["c1002", "c2001"]  # oldest first
    assert lines[1]["flags"] == ["crisis", "after_hours"]
    assert lines[1]["rule"] == "crisis"
    assert lines[0]["reason"].startswith("within hours")
    assert lines[0]["at"] == "2026-12-01T15:00:00Z"
    assert "want to kill" not in answer.text
    assert "see you" not in answer.text
    [audited] = await exports(imported)
    assert audited["reason"] == "records request #12"
    assert audited["count"] == 2
    assert audited["format"] == "jsonl"


async def test_an_export_as_csv_with_a_time_range(
    gateway: Client, clock: FixedClock, admin: Api, imported: Settings
) -> None:
    await two_messages(gateway, clock)
    answer = await admin.get(
        "/export", reason="quarterly review", format="csv", since="2026-12-01T15:00:30Z"
    )
    assert answer.status == 200
    assert answer.headers["Content-Type"].startswith("text/csv")
    assert "attachment" in answer.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(answer.text)))
    assert len(rows) == 1
    assert rows[0]["client"] == "c2001"
    assert rows[0]["flags"] == "crisis after_hours"
    assert rows[0]["rule"] == "crisis"
    [audited] = await exports(imported)
    assert audited["count"] == 1
    assert audited["since"] == "2026-12-01T15:00:30+00:00"


async def test_an_export_needs_a_reason_and_a_known_format(admin: Api, imported: Settings) -> None:
    missing = await admin.get("/export")
    assert missing.status == 400
    assert "reason" in missing.json["error"]["message"]
    assert (await admin.get("/export", reason=" ")).status == 400
    assert (await admin.get("/export", reason="x", format="xlsx")).status == 400
    assert (await admin.get("/export", reason="x", until="2026-12-01")).status == 400
    assert await exports(imported) == []


async def test_an_export_takes_the_message_filters(
    gateway: Client, clock: FixedClock, admin: Api, imported: Settings
) -> None:
    await two_messages(gateway, clock)
    by_client = await admin.get("/export", reason="client request", client="c1002")
    assert [json.loads(line)["client"] for line in by_client.text.splitlines()] == ["c1002"]
    by_flag = await admin.get("/export", reason="crisis review", flag="crisis")
    assert [json.loads(line)["client"] for line in by_flag.text.splitlines()] == ["c2001"]
    assert (await admin.get("/export", reason="x", flag="urgent")).status == 400
    first, second = await exports(imported)
    assert (first["client"], first["flag"], first["count"]) == ("c1002", None, 1)
    assert (second["client"], second["flag"], second["count"]) == (None, "crisis", 1)
