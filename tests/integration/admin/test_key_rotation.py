"""`gateway keys rotate`: every sealed value ends under the new key, resumably."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from sqlalchemy import select

from gateway.audit.verify import verify_stored_chain
from gateway.crypto import KeyRing, aad, new_key
from gateway.db.engine import create_engine
from gateway.db.tables import AuditEventRow
from gateway.key_rotation import Progress, rotate_keys, sealed_columns
from gateway.settings import Settings
from tests.integration.admin.conftest import lines, run_cli_beside, use_settings
from tests.integration.conftest import JORDAN, LEE_NUMBER, RILEY, STRANGER
from tests.support.twilio_client import send_sms

Client = TestClient[web.Request, web.Application]
Capture = pytest.CaptureFixture[str]
SealedValues = dict[tuple[str, str], tuple[str, str]]

# Every LargeBinary column of the schema, with the aad column name the writers use.
EXPECTED_COLUMNS = {
    "practices.on_call",
    "therapists.forward_to",
    "therapists.on_call",
    "clients.name",
    "clients.phone",
    "clients.agreement_note",
    "messages.counterpart",
    "messages.body",
    "outbox.to",
    "outbox.body",
}


async def sealed_values(settings: Settings, keys: KeyRing) -> SealedValues:
    """(column, row id) -> (key id, plaintext) of every sealed value, opened with `keys`."""
    values: SealedValues = {}
    engine = create_engine(settings.database_url)
    try:
        async with engine.connect() as connection:
            for sealed in sealed_columns():
                rows = await connection.execute(
                    select(sealed.row_id, sealed.column).where(sealed.column.is_not(None))
                )
                for row_id, blob in rows:
                    plaintext = keys.decrypt(
                        blob, aad(sealed.table.name, sealed.aad_column, str(row_id))
                    )
                    values[sealed.label, str(row_id)] = (keys.key_id_of(blob), plaintext)
    finally:
        await engine.dispose()
    return values


async def last_audit(settings: Settings) -> AuditEventRow:
    engine = create_engine(settings.database_url)
    try:
        async with engine.connect() as connection:
            row = (
                await connection.execute(
                    select(AuditEventRow).order_by(AuditEventRow.seq.desc()).limit(1)
                )
            ).one()
            assert (await verify_stored_chain(connection)).ok
            return row  # type: ignore[return-value]
    finally:
        await engine.dispose()


async def messages_from_clients(gateway: Client) -> None:
    """Rows in every sealed column, written by the real webhook."""
    for sender, text in (
        (JORDAN, "can we move tuesday to 3pm"),
        (RILEY, "running ten minutes late"),
        (STRANGER, "do you take new clients?"),
    ):
        status, _ = await send_sms(gateway, sender, LEE_NUMBER, text)
        assert status == 200


def test_rotation_covers_every_sealed_column_of_the_schema() -> None:
    assert {sealed.label for sealed in sealed_columns()} == EXPECTED_COLUMNS


async def test_after_rotation_only_the_new_key_is_needed_and_the_old_id_is_gone(
    gateway: Client, imported: Settings, monkeypatch: pytest.MonkeyPatch, capsys: Capture
) -> None:
    await messages_from_clients(gateway)
    old = imported.secret("encryption_keys")
    old_ring, new = KeyRing.parse(old), new_key()
    new_ring = KeyRing.parse(new)
    before = await sealed_values(imported, old_ring)
    assert {label for label, _ in before} == EXPECTED_COLUMNS
    assert {key_id for key_id, _ in before.values()} == {old_ring.primary_id}

    use_settings(imported, monkeypatch, GATEWAY_ENCRYPTION_KEYS=f"{new},{old}")
    result = await run_cli_beside(capsys, "keys", "rotate")

    assert result.code == 0, result.err
    after = await sealed_values(imported, new_ring)  # raises if any value needs the old key
    assert after == {where: (new_ring.primary_id, text) for where, (_, text) in before.items()}
    assert "\rmessages.body: 0/3\rmessages.body: 3/3\n" in result.err
    assert f"every sealed value is under key {new_ring.primary_id}" in result.out
    event = await last_audit(imported)
    assert event.action == "keys_rotated"
    assert event.details["key_id"] == new_ring.primary_id
    assert sum(event.details["rotated"].values()) == len(before)
    everything = result.out + result.err + repr(event.details)
    for _, text in before.values():
        assert text not in everything


async def test_a_second_rotation_re_encrypts_nothing(
    gateway: Client, imported: Settings, monkeypatch: pytest.MonkeyPatch, capsys: Capture
) -> None:
    await messages_from_clients(gateway)
    old, new = imported.secret("encryption_keys"), new_key()
    use_settings(imported, monkeypatch, GATEWAY_ENCRYPTION_KEYS=f"{new},{old}")
    assert (await run_cli_beside(capsys, "keys", "rotate")).code == 0
    rotated = await sealed_values(imported, KeyRing.parse(new))

    again = await run_cli_beside(capsys, "keys", "rotate")

    assert again.code == 0
    assert all(" 0 re-encrypted" in line for line in lines(again.out)[:-1])
    assert await sealed_values(imported, KeyRing.parse(new)) == rotated
    event = await last_audit(imported)
    assert event.action == "keys_rotated"
    assert set(event.details["rotated"].values()) == {0}
    assert event.details["already_current"] == len(rotated)


class RotationStoppedError(Exception):
    pass


async def test_an_interrupted_rotation_resumes_where_it_stopped(
    gateway: Client, imported: Settings
) -> None:
    await messages_from_clients(gateway)
    old = imported.secret("encryption_keys")
    ring = KeyRing.parse(f"{new_key()},{old}")
    total = len(await sealed_values(imported, ring))
    calls = 0

    def stop_after_a_few_batches(_: Progress) -> None:
        nonlocal calls
        calls += 1
        if calls == 6:
            raise RotationStoppedError

    engine = create_engine(imported.database_url)
    try:
        now = datetime(2026, 12, 1, 16, 0, tzinfo=UTC)
        with pytest.raises(RotationStoppedError):
            await rotate_keys(
                engine, ring, now=now, actor="test", batch_size=1, progress=stop_after_a_few_batches
            )
        done = [
            key_id
            for key_id, _ in (await sealed_values(imported, ring)).values()
            if key_id == ring.primary_id
        ]
        assert 0 < len(done) < total

        summary = await rotate_keys(engine, ring, now=now, actor="test", batch_size=2)
    finally:
        await engine.dispose()

    assert summary.complete
    assert summary.rotated == total - len(done)
    assert sum(item.already_current for item in summary.columns) == len(done)
    assert {key_id for key_id, _ in (await sealed_values(imported, ring)).values()} == {
        ring.primary_id
    }


async def test_values_under_a_key_no_longer_configured_are_reported_by_row_only(
    gateway: Client, imported: Settings, monkeypatch: pytest.MonkeyPatch, capsys: Capture
) -> None:
    await messages_from_clients(gateway)
    before = await sealed_values(imported, KeyRing.parse(imported.secret("encryption_keys")))
    use_settings(imported, monkeypatch, GATEWAY_ENCRYPTION_KEYS=new_key())

    result = await run_cli_beside(capsys, "keys", "rotate")

    assert result.code == 1
    assert "cannot decrypt clients.name of row c1001: " in result.err
    assert "unknown key id" in result.err
    assert "fix the above and run it again" in result.err
    for _, text in before.values():
        assert text not in result.out + result.err
    event = await last_audit(imported)
    assert event.details["unreadable"] == len(before)
