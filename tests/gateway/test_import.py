"""`gateway import`: strict, whole-file validation and idempotent upserts."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import select, update

from gateway.cli import main
from gateway.crypto import new_key
from gateway.db.engine import create_engine
from gateway.db.tables import AuditEventRow, Base, ClientRow, TherapistRow, TimeOffRow
from gateway.practice_config import load_config
from gateway.settings import Settings
from gateway.vault import Vault
from tests.conftest import REPO

EXAMPLE = REPO / "examples" / "practice.toml"


def _use(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "GATEWAY_DATABASE_URL": settings.database_url,
        "GATEWAY_ENCRYPTION_KEYS": settings.secret("encryption_keys"),
        "GATEWAY_INDEX_KEY": settings.secret("index_key"),
        "GATEWAY_SESSION_SECRET": settings.secret("session"),
        "TWILIO_AUTH_TOKEN": settings.secret("auth_token"),
    }.items():
        monkeypatch.setenv(name, value)


def snapshot(url: str) -> dict[str, list[tuple[object, ...]]]:
    async def read() -> dict[str, list[tuple[object, ...]]]:
        engine = create_engine(url)
        try:
            async with engine.connect() as connection:
                return {
                    table.name: sorted(
                        (tuple(row) for row in (await connection.execute(select(table))).all()),
                        key=repr,
                    )
                    for table in Base.metadata.sorted_tables
                }
        finally:
            await engine.dispose()

    return asyncio.run(read())


@pytest.fixture
def imported(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    _use(settings, monkeypatch)
    assert main(["import", str(EXAMPLE)]) == 0
    return settings


def test_example_imports_and_a_second_import_changes_nothing(
    imported: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    before = snapshot(imported.database_url)
    assert len(before["therapists"]) == 2
    assert len(before["clients"]) == 3
    assert len(before["time_off"]) == 1
    capsys.readouterr()
    assert main(["import", str(EXAMPLE)]) == 0
    assert "nothing changed" in capsys.readouterr().out
    assert snapshot(imported.database_url) == before


def test_phone_numbers_and_client_names_are_not_stored_in_the_clear(imported: Settings) -> None:
    rows = snapshot(imported.database_url)
    everything = repr(rows)
    for secret in ("+15557654321", "5557654321", "Jordan D.", "+15551230001", "DBT phone"):
        assert secret not in everything


def test_a_note_stored_in_clear_before_notes_were_sealed_is_sealed_by_migrate(
    imported: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    async def write_in_clear() -> None:
        engine = create_engine(imported.database_url)
        async with engine.begin() as connection:
            await connection.execute(
                update(ClientRow)
                .where(ClientRow.id == "c1001")
                .values(agreement_note="coaching calls for urges", agreement_note_enc=None)
            )
        await engine.dispose()

    async def notes() -> dict[str, str | None]:
        engine = create_engine(imported.database_url)
        async with engine.connect() as connection:
            config = await load_config(connection, Vault.from_settings(imported))
        await engine.dispose()
        return {client.id: client.agreement_note for client in config.clients.values()}

    asyncio.run(write_in_clear())
    assert asyncio.run(notes())["c1001"] == "coaching calls for urges"
    capsys.readouterr()
    assert main(["migrate"]) == 0
    assert "sealed 1 agreement notes" in capsys.readouterr().out
    assert "coaching calls" not in repr(snapshot(imported.database_url))
    assert asyncio.run(notes())["c1001"] == "coaching calls for urges"
    assert main(["migrate"]) == 0
    assert "sealed" not in capsys.readouterr().out


BROKEN = {
    "bad time zone": ('timezone = "America/New_York"', 'timezone = "America/Nowhere"', "timezone"),
    "hour 25": ('hours.tue = ["09:00-17:00"]', 'hours.tue = ["09:00-25:00"]', "hours.tue"),
    "unknown therapist": ('therapist = "okafor"', 'therapist = "nobody"', "nobody"),
    "malformed phone": ('phone = "+15557654322"', 'phone = "555-765"', "phone"),
    "unknown key": ('forward = "notify"', 'forward = "notify"\ncolour = "blue"', "unknown key"),
    "bad forward mode": ('forward = "notify"', 'forward = "email"', "forward"),
    "start equals end": ('hours.wed = ["09:00-17:00"]', 'hours.wed = ["09:00-09:00"]', "hours.wed"),
    "not toml": ("[practice]", "[practice", "not valid TOML"),
    "a therapist's name of spaces": ('name = "Dr. Ana Lee"', 'name = "   "', "name"),
    "a client's empty name": ('name = "Jordan D."', 'name = ""', "name"),
    "unknown country": ('country = "US"', 'country = "ZZ"', "country"),
    "a control character in a name": ('name = "Jordan D."', 'name = "Jordan\\u0000D."', "one line"),
    "public holidays as a word": (
        'forward = "notify"',
        'forward = "notify"\npublic_holidays = "no"',
        "public_holidays: Input should be a valid boolean",
    ),
    "an empty new-contact reply": (
        'new_contact_reply = "Thanks',
        'new_contact_reply = ""\nold_reply = "Thanks',
        "new_contact_reply: must not be empty",
    ),
    "the practice as a list": ("[practice]", "[[practice]]", "practice: must be a table"),
    "a subdivision where there are none": (
        'country = "US"\nsubdivision = "NY"',
        'country = "MC"\nsubdivision = "NY"',
        "MC has no subdivisions",
    ),
    "a client on a therapist's own phone": (
        'phone = "+15557654323"',
        'phone = "+15551230001"',
        "forward_to",
    ),
    "a client on a therapist's on-call phone": (
        'phone = "+15557654323"',
        'phone = "+15551230002"',
        'therapist "lee"\'s on_call',
    ),
    "a client on the practice's on-call phone": (
        'phone = "+15557654323"',
        'phone = "+15551230009"',
        "the practice's on_call",
    ),
    "a client on a practice number": (
        'phone = "+15557654323"',
        'phone = "+15550009999"',
        "practice number",
    ),
    "a therapist forwarding to a practice number": (
        'forward_to = "+15551230003"',
        'forward_to = "+15550009999"',
        "therapist 'okafor': forward_to is a practice number",
    ),
    "the practice's on-call on a practice number": (
        'on_call = "+15551230009"',
        'on_call = "+15550009999"',
        "practice on_call is a practice number",
    ),
    "a phone of a client the file does not name": (
        'id = "c2001"',
        'id = "c2002"',
        'clients[2] (id "c2002").phone: is already client "c2001"',
    ),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_a_broken_file_exits_2_names_the_problem_and_changes_nothing(
    case: str, imported: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    old, new, expected = BROKEN[case]
    source = EXAMPLE.read_text()
    assert old in source
    # Rename a therapist too, so a partial write would show.
    broken = tmp_path / "broken.toml"
    broken.write_text(source.replace(old, new, 1).replace("Dr. Ana Lee", "Dr. Ana Lee-Changed"))
    before = snapshot(imported.database_url)
    capsys.readouterr()
    assert main(["import", str(broken)]) == 2
    error = capsys.readouterr().err
    assert str(broken) in error
    assert expected in error
    assert snapshot(imported.database_url) == before


CASEY_BLOCK = '[[clients]]\nid = "c2001"\nname = "Casey P."\nphone = "+15557654323"\n'
OKAFOR_PHONE = 'forward_to = "+15551230003"'


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        # Casey stays in the database; Sam Okafor's own phone becomes hers.
        (
            lambda source: source.split(CASEY_BLOCK)[0].replace(
                OKAFOR_PHONE, 'forward_to = "+15557654323"'
            ),
            'client "c2001", which this file does not name',
        ),
        # Sam Okafor stays in the database; a new client gets his own phone.
        (
            lambda source: (
                source.split(CASEY_BLOCK)[0].split('[[therapists]]\nid = "okafor"')[0]
                + '[[clients]]\nid = "c9"\nname = "Quinn V."\nphone = "+15551230003"\n'
                + 'therapist = "lee"\n'
            ),
            'clients[0] (id "c9").phone: is therapist "okafor"\'s forward_to',
        ),
    ],
)
def test_a_client_cannot_take_the_phone_of_a_therapist_the_file_does_not_name(
    change: Callable[[str], str],
    expected: str,
    imported: Settings,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Texts from a therapist's own phone are relays: a client on it would get no crisis
    reply. What the database keeps counts as much as what the file says."""
    source = EXAMPLE.read_text()
    assert CASEY_BLOCK in source
    broken = tmp_path / "broken.toml"
    broken.write_text(change(source))
    before = snapshot(imported.database_url)
    capsys.readouterr()
    assert main(["import", str(broken)]) == 2
    assert expected in capsys.readouterr().err
    assert snapshot(imported.database_url) == before


def test_a_byte_order_mark_is_read_past(imported: Settings, tmp_path: Path) -> None:
    with_bom = tmp_path / "practice.toml"
    with_bom.write_bytes(b"\xef\xbb\xbf" + EXAMPLE.read_bytes())
    assert main(["import", str(with_bom)]) == 0


@pytest.mark.parametrize("path", ["/dev/zero", "/dev/null", "fifo"])
def test_a_device_or_pipe_is_refused_without_reading_it(
    path: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    if path == "fifo":
        path = str(tmp_path / "fifo")
        os.mkfifo(path)
    assert main(["import", path]) == 2
    assert f"{path}: is not a regular file" in capsys.readouterr().err


def test_errors_name_the_key_of_the_entry(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = tmp_path / "broken.toml"
    broken.write_text(
        EXAMPLE.read_text().replace('hours.tue = ["09:00-17:00"]', 'hours.tue = ["9-5"]')
    )
    assert main(["import", str(broken)]) == 2
    error = capsys.readouterr().err
    assert 'therapists[0] (id "lee").hours.tue' in error


def test_changes_are_upserted_and_audited(imported: Settings, tmp_path: Path) -> None:
    changed = tmp_path / "changed.toml"
    changed.write_text(
        EXAMPLE.read_text()
        .replace('hours.tue = ["09:00-17:00"]', 'hours.tue = ["09:00-12:00", "12:00-18:00"]')
        .replace('note = "Holidays"', 'note = "Winter break"')
    )
    audit_before = len(snapshot(imported.database_url)["audit_events"])
    assert main(["import", str(changed)]) == 0
    after = snapshot(imported.database_url)
    assert len(after["audit_events"]) > audit_before

    async def read() -> tuple[dict[str, object], list[str]]:
        engine = create_engine(imported.database_url)
        async with engine.connect() as connection:
            hours = (
                await connection.execute(select(TherapistRow.hours).where(TherapistRow.id == "lee"))
            ).scalar_one()
            notes = list((await connection.execute(select(TimeOffRow.note))).scalars())
            actions = list((await connection.execute(select(AuditEventRow.action))).scalars())
        await engine.dispose()
        assert "therapist_updated" in actions
        return hours, notes

    hours, notes = asyncio.run(read())
    assert hours["tue"] == ["09:00-18:00"]  # adjacent windows merged
    assert notes == ["Winter break"]


def test_prune_removes_what_the_file_no_longer_names(imported: Settings, tmp_path: Path) -> None:
    source = EXAMPLE.read_text()
    without = source[: source.index('[[clients]]\nid = "c2001"')]
    smaller = tmp_path / "smaller.toml"
    smaller.write_text(without)
    assert main(["import", str(smaller)]) == 0
    assert len(snapshot(imported.database_url)["clients"]) == 3
    assert main(["import", str(smaller), "--prune"]) == 0
    clients = snapshot(imported.database_url)["clients"]
    assert len(clients) == 2


def test_keys_that_cannot_read_the_stored_data_are_a_configuration_error(
    imported: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The key the data was written with was dropped from GATEWAY_ENCRYPTION_KEYS too early."""
    monkeypatch.setenv("GATEWAY_ENCRYPTION_KEYS", new_key())
    capsys.readouterr()
    assert main(["import", str(EXAMPLE)]) == 2
    error = capsys.readouterr().err
    assert error.startswith("gateway: configuration error: stored data cannot be decrypted")
    assert "Traceback" not in error


def test_another_index_key_is_a_configuration_error_not_a_practice_of_strangers(
    imported: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Under another GATEWAY_INDEX_KEY no phone would match its client or its opt-out: an
    opted-out client would get auto-replies again. The command refuses and writes nothing."""
    before = snapshot(imported.database_url)
    monkeypatch.setenv("GATEWAY_INDEX_KEY", new_key())
    capsys.readouterr()
    assert main(["import", str(EXAMPLE)]) == 2
    error = capsys.readouterr().err
    assert error.startswith("gateway: configuration error: GATEWAY_INDEX_KEY is not the key")
    assert "Traceback" not in error
    assert snapshot(imported.database_url) == before


def test_client_rows_reference_their_therapist(imported: Settings) -> None:
    async def read() -> list[tuple[str, str]]:
        engine = create_engine(imported.database_url)
        async with engine.connect() as connection:
            rows = (await connection.execute(select(ClientRow.id, ClientRow.therapist_id))).all()
        await engine.dispose()
        return sorted((row[0], row[1]) for row in rows)

    assert asyncio.run(read()) == [("c1001", "lee"), ("c1002", "lee"), ("c2001", "okafor")]


def _phones(settings: Settings) -> dict[str, str]:
    """Client id to phone index."""

    async def read() -> dict[str, str]:
        engine = create_engine(settings.database_url)
        try:
            async with engine.connect() as connection:
                rows = await connection.execute(select(ClientRow.id, ClientRow.phone_index))
                return {row.id: row.phone_index for row in rows}
        finally:
            await engine.dispose()

    return asyncio.run(read())


def test_two_clients_can_swap_phones(imported: Settings, tmp_path: Path) -> None:
    before = _phones(imported)
    swapped = tmp_path / "swapped.toml"
    swapped.write_text(
        EXAMPLE.read_text()
        .replace('phone = "+15557654321"', 'phone = "PLACEHOLDER"')
        .replace('phone = "+15557654322"', 'phone = "+15557654321"')
        .replace('phone = "PLACEHOLDER"', 'phone = "+15557654322"')
    )
    assert main(["import", str(swapped)]) == 0
    after = _phones(imported)
    assert (after["c1001"], after["c1002"]) == (before["c1002"], before["c1001"])
    assert main(["import", str(swapped)]) == 0
    assert _phones(imported) == after


def test_a_client_renamed_with_prune_keeps_the_phone(imported: Settings, tmp_path: Path) -> None:
    before = _phones(imported)
    renamed = tmp_path / "renamed.toml"
    renamed.write_text(EXAMPLE.read_text().replace('id = "c2001"', 'id = "c2001-b"'))
    assert main(["import", str(renamed), "--prune"]) == 0
    after = _phones(imported)
    assert "c2001" not in after
    assert after["c2001-b"] == before["c2001"]


def test_prune_takes_a_removed_therapists_tokens_and_sign_ins_with_them(
    imported: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The id given again later (to someone else) brings none of them back."""
    for name, therapist in (("sam", "okafor"), ("ana", "lee")):
        token = ["token", "create", "--name", name, "--role", "therapist"]
        assert main([*token, "--therapist", therapist]) == 0
    monkeypatch.setenv("GATEWAY_USER_PASSWORD", "a synthetic passphrase 123")
    user = ["user", "create", "--email", "sam@example.org", "--role", "therapist"]
    assert main([*user, "--therapist", "okafor"]) == 0
    source = EXAMPLE.read_text()
    without_okafor = tmp_path / "without.toml"
    without_okafor.write_text(
        source[: source.index('[[therapists]]\nid = "okafor"')]
        + source[source.index("[[clients]]") : source.index('[[clients]]\nid = "c2001"')]
    )
    assert main(["import", str(without_okafor), "--prune"]) == 0
    assert main(["import", str(EXAMPLE)]) == 0  # okafor again

    rows = snapshot(imported.database_url)
    tokens = {row[1]: row for row in rows["api_tokens"]}  # by name
    assert tokens["sam"][-1] is not None  # revoked_at
    assert tokens["ana"][-1] is None
    assert rows["users"] == []
    actions = _audit_actions(imported)
    assert actions.count("token_revoked") == 1
    assert actions.count("user_removed") == 1


def _audit_actions(settings: Settings) -> list[str]:
    async def read() -> list[str]:
        engine = create_engine(settings.database_url)
        try:
            async with engine.connect() as connection:
                return list((await connection.execute(select(AuditEventRow.action))).scalars())
        finally:
            await engine.dispose()

    return asyncio.run(read())
