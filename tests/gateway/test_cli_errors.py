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
        (["worker", "--metrics-port", "70000"], "--metrics-port"),
        (["worker", "--metrics-port", "-5"], "--metrics-port"),
        # Bytes that are not UTF-8 reach Python as lone surrogates.
        (["simulate", "--from", "+15557654321", "--to", "+15550009999", "\udcff"], "text"),
        (["simulate", "--from", "+1555\udcff", "--to", "+15550009999", "hi"], "--from"),
    ],
)
def test_bad_option_values_are_refused_before_anything_runs(
    argv: list[str], option: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2
    assert option in capsys.readouterr().err


def test_a_dot_env_that_is_not_utf8_is_a_configuration_error(
    in_empty_folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (in_empty_folder / ".env").write_bytes(b"GATEWAY_RETENTION_DAYS=\xff\xfe\n")
    assert main(["token", "list"]) == 2
    error = capsys.readouterr().err
    assert error == "gateway: configuration error: .env is not UTF-8 text\n"


def test_secrets_are_not_written_through_a_dot_env_link_to_nowhere(
    in_empty_folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = in_empty_folder / "elsewhere" / "secrets"
    (in_empty_folder / ".env").symlink_to(target)
    assert main(["token", "list"]) == 2
    assert "link to a file that does not exist" in capsys.readouterr().err
    assert not target.parent.exists()


def test_serve_refuses_to_start_without_a_spool_it_can_write(
    in_empty_folder: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Found at start, not in the first database outage, when a crisis message needs it."""
    (in_empty_folder / "a-file").write_text("not a folder")
    monkeypatch.setenv("GATEWAY_SPOOL_DIR", str(in_empty_folder / "a-file" / "spool"))
    monkeypatch.setenv("GATEWAY_DATABASE_URL", f"sqlite+aiosqlite:///{in_empty_folder / 'g.db'}")
    assert main(["serve", "--port", "0"]) == 2
    error = capsys.readouterr().err
    assert "configuration error: GATEWAY_SPOOL_DIR cannot be written" in error
