"""Running `gateway` commands in-process against the test database."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

import pytest

from gateway.cli import main
from gateway.settings import Settings
from tests.integration.conftest import EXAMPLE


@dataclass(frozen=True, slots=True)
class CliResult:
    code: int
    out: str
    err: str


def use_settings(settings: Settings, monkeypatch: pytest.MonkeyPatch, **overrides: str) -> None:
    """The environment a `gateway` command would see, from the test's settings."""
    values = {
        "GATEWAY_DATABASE_URL": settings.database_url,
        "GATEWAY_PUBLIC_URL": settings.public_url,
        "GATEWAY_ENCRYPTION_KEYS": settings.secret("encryption_keys"),
        "GATEWAY_INDEX_KEY": settings.secret("index_key"),
        "GATEWAY_SESSION_SECRET": settings.secret("session"),
        "TWILIO_AUTH_TOKEN": settings.secret("auth_token"),
        "GATEWAY_SPOOL_DIR": str(settings.spool_dir),
        **overrides,
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> CliResult:
    capsys.readouterr()
    code = main(list(argv))
    captured = capsys.readouterr()
    return CliResult(code, captured.out, captured.err)


async def run_cli_beside(capsys: pytest.CaptureFixture[str], *argv: str) -> CliResult:
    """The command in a thread of its own, so the test's event loop (a running gateway)
    keeps serving while it runs: as when an operator runs it beside a live gateway."""
    return await asyncio.wait_for(asyncio.to_thread(run_cli, capsys, *argv), timeout=60)


@pytest.fixture
def practice(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Settings:
    """The example practice imported through the command line, its environment set."""
    use_settings(settings, monkeypatch)
    assert run_cli(capsys, "import", str(EXAMPLE)).code == 0
    return settings


def lines(text: str) -> Sequence[str]:
    return [line for line in text.splitlines() if line.strip()]
