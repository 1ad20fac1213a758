"""`gateway audit verify|head`: any edit, deletion or insertion is found and named."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from gateway.audit.chain import GENESIS_HASH
from gateway.audit.store import AuditEvent, append_events
from gateway.db.engine import create_engine
from gateway.settings import Settings
from tests.integration.admin.conftest import run_cli, use_settings

Capture = pytest.CaptureFixture[str]
AT = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)


def execute(settings: Settings, statement: str, **params: object) -> None:
    async def run() -> None:
        engine = create_engine(settings.database_url)
        try:
            async with engine.begin() as connection:
                await connection.execute(text(statement), params)
        finally:
            await engine.dispose()

    asyncio.run(run())


def append_plain_events(settings: Settings, count: int) -> None:
    """Entries that need no running gateway, as a worker or an admin would add them."""

    async def run() -> None:
        engine = create_engine(settings.database_url)
        try:
            async with engine.begin() as connection:
                await append_events(
                    connection,
                    [
                        AuditEvent(
                            AT + timedelta(minutes=n),
                            "worker",
                            "message_sent",
                            f"outbox:{n}",
                            {"attempt": 1, "flags": ["crisis"], "ratio": 0.5},
                        )
                        for n in range(count)
                    ],
                )
        finally:
            await engine.dispose()

    asyncio.run(run())


@pytest.fixture
def chained(practice: Settings) -> Settings:
    append_plain_events(practice, 4)
    return practice


def head(capsys: Capture) -> tuple[int, str]:
    result = run_cli(capsys, "audit", "head")
    assert result.code == 0
    seq, hash_ = result.out.strip().split(":")
    return int(seq), hash_


def test_an_empty_chain_has_the_genesis_head_and_verifies(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: Capture
) -> None:
    use_settings(settings, monkeypatch)
    assert run_cli(capsys, "audit", "head").out == f"0:{GENESIS_HASH}\n"
    result = run_cli(capsys, "audit", "verify")
    assert (result.code, result.out) == (
        0,
        f"audit chain intact: 0 entries, head 0:{GENESIS_HASH}\n",
    )


def test_an_untouched_chain_verifies_and_reports_its_head(
    chained: Settings, capsys: Capture
) -> None:
    seq, hash_ = head(capsys)
    assert seq > 4  # the import's entries and ours
    result = run_cli(capsys, "audit", "verify")
    assert result.code == 0
    assert result.out == f"audit chain intact: {seq} entries, head {seq}:{hash_}\n"
    assert run_cli(capsys, "audit", "verify", "--expect-head", f"{seq}:{hash_}").code == 0
    # A head noted earlier still verifies once the chain has grown.
    append_plain_events(chained, 2)
    assert run_cli(capsys, "audit", "verify", "--expect-head", f"{seq}:{hash_}").code == 0


TAMPERING = {
    "edited actor": ("UPDATE audit_events SET actor = 'someone else' WHERE seq = 3", 3),
    "edited details": ("UPDATE audit_events SET details = '{\"attempt\": 2}' WHERE seq = 3", 3),
    "edited subject": ("UPDATE audit_events SET subject = 'client:c9999' WHERE seq = 3", 3),
    "deleted entry": ("DELETE FROM audit_events WHERE seq = 3", 4),
}


@pytest.mark.parametrize("case", sorted(TAMPERING))
def test_an_edited_or_deleted_entry_fails_verification_naming_it(
    case: str, chained: Settings, capsys: Capture
) -> None:
    statement, broken = TAMPERING[case]
    execute(chained, statement)
    result = run_cli(capsys, "audit", "verify")
    assert result.code == 1
    assert result.out == ""
    assert f"entry {broken}:" in result.err
    if case == "deleted entry":
        assert "entry 3 is missing" in result.err


def test_an_inserted_entry_fails_verification_naming_it(chained: Settings, capsys: Capture) -> None:
    seq, _ = head(capsys)
    # A copy of entry 2, hashes and all, replayed at the end.
    execute(
        chained,
        "INSERT INTO audit_events (seq, at, actor, action, subject, details, prev_hash, hash) "
        "SELECT :seq, at, actor, action, subject, details, prev_hash, hash "
        "FROM audit_events WHERE seq = 2",
        seq=seq + 1,
    )
    result = run_cli(capsys, "audit", "verify")
    assert result.code == 1
    assert f"entry {seq + 1}:" in result.err
    assert f"{seq} entries before it are intact" in result.err


def test_an_entry_forged_with_a_made_up_hash_is_found(chained: Settings, capsys: Capture) -> None:
    seq, hash_ = head(capsys)
    execute(
        chained,
        "INSERT INTO audit_events (seq, at, actor, action, subject, details, prev_hash, hash) "
        "SELECT :seq, at, 'admin', 'message_read', NULL, details, :prev, :hash "
        "FROM audit_events WHERE seq = 2",
        seq=seq + 1,
        prev=hash_,
        hash="f" * 64,
    )
    result = run_cli(capsys, "audit", "verify")
    assert result.code == 1
    assert f"entry {seq + 1}: hash does not match its contents" in result.err


def test_entries_removed_from_the_end_are_found_with_the_expected_head(
    chained: Settings, capsys: Capture
) -> None:
    seq, hash_ = head(capsys)
    execute(chained, "DELETE FROM audit_events WHERE seq > :keep", keep=seq - 2)
    # Without a head kept elsewhere, a shortened chain is still a valid chain.
    assert run_cli(capsys, "audit", "verify").code == 0
    result = run_cli(capsys, "audit", "verify", "--expect-head", f"{seq}:{hash_}")
    assert result.code == 1
    assert f"chain ends at entry {seq - 2}" in result.err
    assert "removed from the end" in result.err


def test_a_rewritten_chain_does_not_match_the_expected_head(
    chained: Settings, capsys: Capture
) -> None:
    seq, _ = head(capsys)
    other = "a" * 64
    result = run_cli(capsys, "audit", "verify", "--expect-head", f"{seq}:{other}")
    assert result.code == 1
    assert f"entry {seq}: hash does not match the expected head" in result.err


@pytest.mark.parametrize("head_text", ["12", "x:y", f"-1:{'0' * 64}", f"3:{'0' * 63}", ""])
def test_a_malformed_expected_head_exits_2(
    head_text: str, chained: Settings, capsys: Capture
) -> None:
    result = run_cli(capsys, "audit", "verify", f"--expect-head={head_text}")
    assert result.code == 2
    assert "SEQ:HASH" in result.err
