"""Retention: old message bodies are purged; metadata, decisions and the audit trail stay."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from sqlalchemy import select, update

from gateway.audit.verify import verify_stored_chain
from gateway.db.engine import create_engine
from gateway.db.tables import AuditEventRow, OutboxRow
from gateway.retention import purge_expired_bodies
from gateway.settings import Settings
from gateway.vault import Vault
from tests.integration.admin.conftest import run_cli_beside, use_settings
from tests.integration.conftest import CASEY, JORDAN, LEE_NUMBER, RILEY, table_rows
from tests.support.clock import FixedClock
from tests.support.twilio_client import send_sms

Client = TestClient[web.Request, web.Application]
Capture = pytest.CaptureFixture[str]


def at_ny(year: int, month: int, day: int, hour: int) -> datetime:
    return datetime(year, month, day, hour, tzinfo=ZoneInfo("America/New_York")).astimezone(UTC)


@pytest.fixture
def clock() -> FixedClock:
    # Years before the real clock, so `gateway retention run` finds it old: a Tuesday, in hours.
    return FixedClock(at_ny(2020, 12, 1, 10))


async def mark_outbox(settings: Settings, message_id: str, state: str) -> None:
    engine = create_engine(settings.database_url)
    try:
        async with engine.begin() as connection:
            await connection.execute(
                update(OutboxRow).where(OutboxRow.message_id == message_id).values(state=state)
            )
    finally:
        await engine.dispose()


async def audit_actions(settings: Settings) -> list[Any]:
    engine = create_engine(settings.database_url)
    try:
        async with engine.connect() as connection:
            assert (await verify_stored_chain(connection)).ok
            return list(
                (await connection.execute(select(AuditEventRow).order_by(AuditEventRow.seq))).all()
            )
    finally:
        await engine.dispose()


async def by_sender(settings: Settings) -> dict[str, Any]:
    """Messages keyed by their sender's phone, which stays when the body goes."""
    vault = Vault.from_settings(settings)
    return {
        vault.open("messages", "counterpart", row.id, row.counterpart_enc): row
        for row in await table_rows(settings, "messages")
    }


async def test_bodies_older_than_the_period_are_purged_and_the_rest_kept(
    gateway: Client, imported: Settings, clock: FixedClock
) -> None:
    old_time = clock.at  # Tuesday 10 AM in New York
    await send_sms(gateway, JORDAN, LEE_NUMBER, "old: forwarded and sent")
    await send_sms(gateway, CASEY, LEE_NUMBER, "old: held for Sam, not sent yet")
    clock.advance(timedelta(days=7))
    await send_sms(gateway, RILEY, LEE_NUMBER, "recent: within the period")
    messages = await by_sender(imported)
    await mark_outbox(imported, messages[JORDAN].id, "sent")
    decisions_before = await table_rows(imported, "decisions")
    audit_before = await audit_actions(imported)

    engine = create_engine(imported.database_url)
    try:
        purged = await purge_expired_bodies(
            engine, now=clock.at, retention_days=5, actor="test", batch_size=1
        )
    finally:
        await engine.dispose()

    # Two old message bodies and the sent forward's copy; the pending notice keeps its text.
    assert purged == 3
    after = await by_sender(imported)
    assert after[JORDAN].body_enc is None
    assert after[JORDAN].body_purged_at == clock.at
    assert after[CASEY].body_enc is None
    vault = Vault.from_settings(imported)
    recent = after[RILEY]
    assert recent.body_purged_at is None
    assert vault.open("messages", "body", recent.id, recent.body_enc) == (
        "recent: within the period"
    )
    for before_row in messages.values():
        row = after[
            vault.open("messages", "counterpart", before_row.id, before_row.counterpart_enc)
        ]
        assert (row.id, row.at, row.status, row.flags, row.rule) == (
            before_row.id,
            before_row.at,
            before_row.status,
            before_row.flags,
            before_row.rule,
        )
    outbox = {row.message_id: row for row in await table_rows(imported, "outbox")}
    assert outbox[after[JORDAN].id].body_enc is None
    assert outbox[after[JORDAN].id].to_enc is not None
    pending = outbox[after[CASEY].id]
    assert pending.state == "pending"
    assert vault.open("outbox", "body", pending.id, pending.body_enc)
    assert outbox[recent.id].body_enc is not None
    assert await table_rows(imported, "decisions") == decisions_before

    audit_after = await audit_actions(imported)
    assert audit_after[: len(audit_before)] == audit_before
    [event] = audit_after[len(audit_before) :]
    assert (event.action, event.actor) == ("bodies_purged", "test")
    assert event.details["count"] == 3
    assert event.details["messages"] == 2
    assert event.details["outbox"] == 1
    assert event.details["cutoff"] == (clock.at - timedelta(days=5)).isoformat()
    assert old_time < clock.at - timedelta(days=5)


async def test_a_second_purge_finds_nothing_and_still_records_that_it_ran(
    gateway: Client, imported: Settings, clock: FixedClock
) -> None:
    await send_sms(gateway, JORDAN, LEE_NUMBER, "old message")
    engine = create_engine(imported.database_url)
    try:
        later = clock.at + timedelta(days=3)
        assert await purge_expired_bodies(engine, now=later, retention_days=1, actor="t") == 1
        assert await purge_expired_bodies(engine, now=later, retention_days=1, actor="t") == 0
    finally:
        await engine.dispose()
    events = [row for row in await audit_actions(imported) if row.action == "bodies_purged"]
    assert [event.details["count"] for event in events] == [1, 0]


async def test_retention_run_uses_the_configured_period(
    gateway: Client, imported: Settings, monkeypatch: pytest.MonkeyPatch, capsys: Capture
) -> None:
    await send_sms(gateway, JORDAN, LEE_NUMBER, "from long ago")
    use_settings(imported, monkeypatch, GATEWAY_RETENTION_DAYS="30")

    result = await run_cli_beside(capsys, "retention", "run")

    assert result.code == 0, result.err
    assert result.out.startswith("purged 1 message bodies from before ")
    [message] = await table_rows(imported, "messages")
    assert message.body_enc is None
    [event] = [row for row in await audit_actions(imported) if row.action == "bodies_purged"]
    assert (event.actor, event.details["retention_days"]) == ("cli:retention", 30)
