from __future__ import annotations

from pathlib import Path

import pytest

from gateway.crypto import new_key
from gateway.settings import SettingsError, load_settings


def test_defaults_follow_the_contract() -> None:
    settings = load_settings()
    assert settings.database_url == "sqlite+aiosqlite:///gateway.db"
    assert settings.public_url == "http://127.0.0.1:8080"
    assert settings.twilio_api_url == "https://api.twilio.com"
    assert settings.retention_days == 2190
    assert settings.send_rate == 1
    assert settings.env == "development"
    assert settings.effective_log_format == "console"
    assert settings.dry_run


def test_environment_and_dotenv_are_read(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("GATEWAY_SEND_RATE=3\nGATEWAY_RETENTION_DAYS=30\n")
    monkeypatch.setenv("GATEWAY_RETENTION_DAYS", "40")
    settings = load_settings()
    assert settings.send_rate == 3
    assert settings.retention_days == 40


def test_production_refuses_missing_secrets_naming_each(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATEWAY_ENV", "production")
    monkeypatch.setenv("GATEWAY_PUBLIC_URL", "https://gateway.example.test")
    with pytest.raises(SettingsError) as raised:
        load_settings()
    message = str(raised.value)
    for name in (
        "TWILIO_AUTH_TOKEN",
        "GATEWAY_ENCRYPTION_KEYS",
        "GATEWAY_INDEX_KEY",
        "GATEWAY_SESSION_SECRET",
    ):
        assert name in message


def test_production_refuses_http_public_url_without_echoing_secrets(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    token = "f" * 32
    key = new_key()
    monkeypatch.setenv("GATEWAY_ENV", "production")
    monkeypatch.setenv("GATEWAY_PUBLIC_URL", "http://gateway.example.test")
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", token)
    monkeypatch.setenv("GATEWAY_ENCRYPTION_KEYS", key)
    monkeypatch.setenv("GATEWAY_INDEX_KEY", new_key())
    monkeypatch.setenv("GATEWAY_SESSION_SECRET", "s" * 40)
    with pytest.raises(SettingsError, match="https://") as raised:
        load_settings()
    assert token not in str(raised.value)
    assert key not in str(raised.value)


def test_bad_values_name_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATEWAY_SEND_RATE", "fast")
    monkeypatch.setenv("GATEWAY_DATABASE_URL", "mysql://nope")
    with pytest.raises(SettingsError) as raised:
        load_settings()
    assert "GATEWAY_SEND_RATE" in str(raised.value)
    assert "GATEWAY_DATABASE_URL" in str(raised.value)
    assert "fast" not in str(raised.value)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("GATEWAY_SEND_RATE", "inf"),
        ("GATEWAY_SEND_RATE", "nan"),
        ("GATEWAY_SEND_RATE", "1e9"),
        ("GATEWAY_TWILIO_TIMEOUT", "inf"),
        ("GATEWAY_TWILIO_TIMEOUT", "1e6"),
    ],
)
def test_rates_and_timeouts_must_be_finite_and_sane(
    name: str, value: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError, match=name):
        load_settings()


def test_an_empty_spool_folder_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATEWAY_SPOOL_DIR", " ")
    with pytest.raises(SettingsError, match="GATEWAY_SPOOL_DIR: must name a folder"):
        load_settings()


@pytest.mark.parametrize("days", ["0", "-5", "1.5", "800000", "99999999999"])
def test_retention_days_out_of_range_are_refused(
    days: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GATEWAY_RETENTION_DAYS", days)
    with pytest.raises(SettingsError) as raised:
        load_settings()
    assert "GATEWAY_RETENTION_DAYS" in str(raised.value)


def test_production_starts_with_real_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATEWAY_ENV", "production")
    monkeypatch.setenv("GATEWAY_PUBLIC_URL", "https://gateway.example.test")
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", "f" * 32)
    monkeypatch.setenv("GATEWAY_ENCRYPTION_KEYS", new_key())
    monkeypatch.setenv("GATEWAY_INDEX_KEY", new_key())
    monkeypatch.setenv("GATEWAY_SESSION_SECRET", "s" * 40)
    settings = load_settings()
    assert settings.effective_log_format == "json"
    assert "f" * 32 not in repr(settings)


def test_production_refuses_a_session_secret_one_could_guess(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GATEWAY_ENV", "production")
    monkeypatch.setenv("GATEWAY_PUBLIC_URL", "https://gateway.example.test")
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", "f" * 32)
    monkeypatch.setenv("GATEWAY_ENCRYPTION_KEYS", new_key())
    monkeypatch.setenv("GATEWAY_INDEX_KEY", new_key())
    monkeypatch.setenv("GATEWAY_SESSION_SECRET", "x")
    with pytest.raises(SettingsError, match="GATEWAY_SESSION_SECRET"):
        load_settings()
