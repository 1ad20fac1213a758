"""`gateway token create|list|revoke`: shown once, listed without secrets, revocable."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import select

from gateway.clock import SystemClock
from gateway.db.engine import create_engine
from gateway.db.tables import ApiTokenRow, AuditEventRow
from gateway.settings import Settings
from gateway.tokens import PREFIX, TokenInfo, authenticate
from tests.integration.admin.conftest import CliResult, lines, run_cli

Capture = pytest.CaptureFixture[str]


def authenticated(settings: Settings, token: str, *, days_from_now: float = 0) -> TokenInfo | None:
    async def check() -> TokenInfo | None:
        engine = create_engine(settings.database_url)
        try:
            async with engine.connect() as connection:
                now = SystemClock().now() + timedelta(days=days_from_now)
                return await authenticate(connection, token, now)
        finally:
            await engine.dispose()

    return asyncio.run(check())


def stored(settings: Settings) -> tuple[list[str], list[str]]:
    """The tokens' stored secret hashes and the audit trail's actions."""

    async def read() -> tuple[list[str], list[str]]:
        engine = create_engine(settings.database_url)
        try:
            async with engine.connect() as connection:
                hashes = list((await connection.execute(select(ApiTokenRow.secret_hash))).scalars())
                actions = list(
                    (
                        await connection.execute(
                            select(AuditEventRow.action).order_by(AuditEventRow.seq)
                        )
                    ).scalars()
                )
                return hashes, actions
        finally:
            await engine.dispose()

    return asyncio.run(read())


def create(capsys: Capture, *args: str) -> CliResult:
    return run_cli(capsys, "token", "create", *args)


def test_create_prints_the_token_alone_on_stdout_and_it_authenticates(
    practice: Settings, capsys: Capture
) -> None:
    result = create(capsys, "--name", "front desk", "--role", "admin")
    assert result.code == 0
    [token] = lines(result.out)
    assert result.out == token + "\n"
    assert token.startswith(PREFIX)
    assert token not in result.err
    info = authenticated(practice, token)
    assert info is not None
    assert (info.role, info.therapist_id, info.name) == ("admin", None, "front desk")
    assert stored(practice)[1][-1] == "token_created"


def test_a_therapist_token_names_an_existing_therapist(practice: Settings, capsys: Capture) -> None:
    result = create(capsys, "--name", "lee phone", "--role", "therapist", "--therapist", "lee")
    assert result.code == 0
    info = authenticated(practice, result.out.strip())
    assert info is not None
    assert (info.role, info.therapist_id) == ("therapist", "lee")


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("--role", "therapist", "--therapist", "nobody"), "no therapist with id 'nobody'"),
        (("--role", "therapist"), "needs --therapist"),
        (("--role", "admin", "--therapist", "lee"), "names no therapist"),
        (("--role", "admin", "--expires-days", "0"), "--expires-days"),
        (("--role", "admin", "--expires-days", "99999999"), "--expires-days"),
    ],
)
def test_a_token_that_cannot_be_made_exits_2_and_creates_nothing(
    args: tuple[str, ...], expected: str, practice: Settings, capsys: Capture
) -> None:
    _, actions_before = stored(practice)
    result = create(capsys, "--name", "x", *args)
    assert result.code == 2
    assert result.out == ""
    assert expected in result.err
    assert stored(practice) == ([], actions_before)


@pytest.mark.parametrize("name", ["evil\tname\nx  admin", "bell\x07", "esc\x1b[31m", " "])
def test_a_token_name_is_one_printable_line(name: str, practice: Settings, capsys: Capture) -> None:
    """A tab or line break in a name would forge columns or rows in `token list`."""
    _, actions_before = stored(practice)
    with pytest.raises(SystemExit) as refused:  # argparse's own exit, with its usage line
        create(capsys, "--name", name, "--role", "admin")
    assert refused.value.code == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert "token name" in err
    assert stored(practice) == ([], actions_before)


def test_list_shows_what_is_stored_of_each_token_but_never_a_secret(
    practice: Settings, capsys: Capture
) -> None:
    admin = create(capsys, "--name", "front desk", "--role", "admin").out.strip()
    therapist = create(
        capsys, "--name", "okafor laptop", "--role", "therapist", "--therapist", "okafor"
    ).out.strip()
    created = [authenticated(practice, token) for token in (admin, therapist)]
    result = run_cli(capsys, "token", "list")
    assert result.code == 0
    header, *rows = lines(result.out)
    assert header.split() == ["ID", "NAME", "ROLE", "THERAPIST", "CREATED", "EXPIRES", "REVOKED"]
    assert len(rows) == 2
    for info, row in zip(created, rows, strict=True):
        assert info is not None
        assert row.startswith(info.id)
        assert info.role in row
        assert info.name in row
        assert info.created_at.isoformat(timespec="seconds") in row
    assert "okafor" in rows[1]
    hashes, _ = stored(practice)
    for secret in (admin, therapist, *hashes):
        assert secret not in result.out
        assert secret not in result.err
    # Only the id part of a token is public; the random part (which may itself hold "_")
    # never shows.
    for token in (admin, therapist):
        token_id, random_part = token.removeprefix("bgw_").split("_", 1)
        assert token_id in result.out
        assert random_part not in result.out


def test_revoke_exits_0_once_then_1_and_the_token_no_longer_authenticates(
    practice: Settings, capsys: Capture
) -> None:
    token = create(capsys, "--name", "old laptop", "--role", "admin").out.strip()
    info = authenticated(practice, token)
    assert info is not None
    first = run_cli(capsys, "token", "revoke", info.id)
    assert first.code == 0
    assert authenticated(practice, token) is None
    again = run_cli(capsys, "token", "revoke", info.id)
    assert again.code == 1
    assert "already revoked" in again.err
    assert run_cli(capsys, "token", "revoke", "no-such-token").code == 1
    listed = run_cli(capsys, "token", "list").out
    [row] = lines(listed)[1:]
    assert row.split()[-1] != "-"  # the revocation time
    assert stored(practice)[1][-2:] == ["token_created", "token_revoked"]


def test_an_expired_token_no_longer_authenticates(practice: Settings, capsys: Capture) -> None:
    token = create(capsys, "--name", "temp", "--role", "admin", "--expires-days", "1").out.strip()
    assert authenticated(practice, token) is not None
    assert authenticated(practice, token, days_from_now=0.99) is not None
    assert authenticated(practice, token, days_from_now=1.01) is None
    [row] = lines(run_cli(capsys, "token", "list").out)[1:]
    info = authenticated(practice, token)
    assert info is not None
    assert info.expires_at is not None
    assert info.expires_at.isoformat(timespec="seconds") in row


def test_revoke_given_a_secret_asks_for_the_id_and_never_repeats_it(
    practice: Settings, capsys: Capture
) -> None:
    token = create(capsys, "--name", "old laptop", "--role", "admin").out.strip()
    result = run_cli(capsys, "token", "revoke", token)
    assert result.code == 2
    assert "id" in result.err
    assert token not in result.err + result.out
    assert authenticated(practice, token) is not None
