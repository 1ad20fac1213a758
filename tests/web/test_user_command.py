"""`gateway user create`: an account from the command line, its password from the environment.

Synchronous tests, as the command runs its own event loop."""

from __future__ import annotations

import argparse
import asyncio
import io

import pytest

from gateway.settings import Settings
from gateway.users import password_matches
from gateway.web.user_command import PASSWORD_VARIABLE, cmd_user_create
from tests.integration.conftest import table_rows


def _args(**values: object) -> argparse.Namespace:
    return argparse.Namespace(**{"therapist": None, **values})


@pytest.fixture
def environment(imported: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("GATEWAY_DATABASE_URL", imported.database_url)
    return imported


def test_a_therapist_account_is_created_hashed_and_audited(
    environment: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(PASSWORD_VARIABLE, "a long enough password")
    code = cmd_user_create(
        _args(email="Ana.Lee@Lakeside.example", role="therapist", therapist="lee")
    )
    assert code == 0
    [user] = asyncio.run(table_rows(environment, "users"))
    assert user.email == "ana.lee@lakeside.example"
    assert user.therapist_id == "lee"
    assert "a long enough password" not in user.password_hash
    assert password_matches(user.password_hash, "a long enough password")
    assert user.id in capsys.readouterr().out
    actions = [row.action for row in asyncio.run(table_rows(environment, "audit_events"))]
    assert "user_created" in actions


def test_bad_accounts_are_refused_and_nothing_is_saved(
    environment: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(PASSWORD_VARIABLE, "short")
    assert cmd_user_create(_args(email="a@lakeside.example", role="admin")) == 2
    monkeypatch.setenv(PASSWORD_VARIABLE, "a long enough password")
    assert cmd_user_create(_args(email="a@lakeside.example", role="therapist")) == 2
    assert cmd_user_create(_args(email="a@x.example", role="therapist", therapist="nobody")) == 2
    assert asyncio.run(table_rows(environment, "users")) == []


def test_without_a_terminal_or_a_password_variable_the_command_says_what_to_set(
    environment: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv(PASSWORD_VARIABLE, raising=False)
    monkeypatch.setattr("sys.stdin", io.StringIO("typed password\n"))
    assert cmd_user_create(_args(email="a@lakeside.example", role="admin")) == 2
    assert PASSWORD_VARIABLE in capsys.readouterr().err
    assert asyncio.run(table_rows(environment, "users")) == []
