"""The command line names what went wrong in one line: never a traceback."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from gateway.cli import main


@pytest.fixture
def in_empty_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    for name in ("GATEWAY_DATABASE_URL", "GATEWAY_ENV"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


def _join_database_threads() -> None:
    """aiosqlite's thread for a connection that failed to open may report to the command's
    event loop after it closed (omnilib/aiosqlite#241): let that happen inside this test."""
    for thread in threading.enumerate():
        if "_connection_worker_thread" in thread.name:
            thread.join(timeout=5)


# The late report is the library's (see above); the command has already answered by then.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
@pytest.mark.parametrize(
    "url",
    [
        "sqlite+aiosqlite:////nonexistent-folder/gateway.db",  # cannot be opened
        "postgresql+asyncpg://postgres@127.0.0.1:1/test",  # nothing listens there
    ],
)
def test_an_unreachable_database_is_one_line_of_error(
    url: str,
    in_empty_folder: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("GATEWAY_DATABASE_URL", url)
    assert main(["token", "list"]) == 1
    _join_database_threads()
    error = capsys.readouterr().err
    assert error.splitlines()[-1].startswith("gateway: ")
    assert "Traceback" not in error


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_a_database_without_its_schema_says_to_migrate(
    in_empty_folder: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("GATEWAY_DATABASE_URL", f"sqlite+aiosqlite:///{in_empty_folder / 'new.db'}")
    assert main(["audit", "head"]) == 1
    _join_database_threads()
    error = capsys.readouterr().err
    assert "gateway migrate" in error
    assert "Traceback" not in error


@pytest.mark.parametrize("port", ["99999", "-1", "http"])
def test_a_port_out_of_range_is_refused_before_anything_starts(
    port: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["serve", "--port", port])
    assert exit_.value.code == 2
    assert "--port" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "option"),
    [
        (["classify", "--country", "ZZ"], "--country"),
        (["classify", "--country", "12"], "--country"),
        (["classify", "--country", ""], "--country"),
        (["token", "create", "--name", " ", "--role", "admin"], "--name"),
        (["token", "create", "--name", "x" * 101, "--role", "admin"], "--name"),
    ],
)
def test_bad_option_values_are_refused_before_anything_runs(
    argv: list[str], option: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2
    assert option in capsys.readouterr().err
