"""Configuration from the environment and `.env`, validated once at start-up."""

from __future__ import annotations

from pathlib import Path
from typing import Final, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

Environment = Literal["development", "production"]
LogFormat = Literal["console", "json"]


class SettingsError(Exception):
    """Configuration that cannot be used; the message names the variable, never its value."""


# A web session's signature is only as strong as its secret.
MIN_SESSION_SECRET: Final = 16


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        frozen=True,
        hide_input_in_errors=True,
        populate_by_name=True,
    )

    env: Environment = Field(default="development", alias="GATEWAY_ENV")
    database_url: str = Field(
        default="sqlite+aiosqlite:///gateway.db", alias="GATEWAY_DATABASE_URL"
    )
    public_url: str = Field(default="http://127.0.0.1:8080", alias="GATEWAY_PUBLIC_URL")
    twilio_account_sid: str | None = Field(default=None, alias="TWILIO_ACCOUNT_SID")
    twilio_auth_token: SecretStr | None = Field(default=None, alias="TWILIO_AUTH_TOKEN")
    twilio_api_url: str = Field(default="https://api.twilio.com", alias="GATEWAY_TWILIO_API_URL")
    twilio_timeout_seconds: float = Field(
        default=10.0, gt=0, le=300, allow_inf_nan=False, alias="GATEWAY_TWILIO_TIMEOUT"
    )
    encryption_keys: SecretStr | None = Field(default=None, alias="GATEWAY_ENCRYPTION_KEYS")
    index_key: SecretStr | None = Field(default=None, alias="GATEWAY_INDEX_KEY")
    session_secret: SecretStr | None = Field(default=None, alias="GATEWAY_SESSION_SECRET")
    # At most a century: a purge date must stay within the calendar.
    retention_days: int = Field(default=2190, ge=1, le=36_600, alias="GATEWAY_RETENTION_DAYS")
    send_rate: float = Field(
        default=1.0, gt=0, le=10_000, allow_inf_nan=False, alias="GATEWAY_SEND_RATE"
    )
    log_format: LogFormat | None = Field(default=None, alias="GATEWAY_LOG_FORMAT")
    spool_dir: Path = Field(default=Path("spool"), alias="GATEWAY_SPOOL_DIR")
    config_refresh_seconds: float = Field(
        default=2.0, gt=0, le=30, alias="GATEWAY_CONFIG_REFRESH_SECONDS"
    )

    @field_validator("public_url", "twilio_api_url")
    @classmethod
    def _absolute_http_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("must be an absolute http:// or https:// URL")
        if parts.query or parts.fragment:
            raise ValueError("must not carry a query or fragment")
        return value.rstrip("/")

    @field_validator("database_url")
    @classmethod
    def _async_driver(cls, value: str) -> str:
        if not value.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            raise ValueError("must use sqlite+aiosqlite:// or postgresql+asyncpg://")
        return value

    @field_validator("spool_dir", mode="before")
    @classmethod
    def _named_folder(cls, value: object) -> object:
        # An empty value would be the working directory, shared with everything else.
        if isinstance(value, str) and not value.strip():
            raise ValueError("must name a folder")
        return value

    @model_validator(mode="after")
    def _production_is_safe(self) -> Settings:
        if self.env != "production":
            return self
        missing = [
            name
            for name, value in (
                ("TWILIO_AUTH_TOKEN", self.twilio_auth_token),
                ("GATEWAY_ENCRYPTION_KEYS", self.encryption_keys),
                ("GATEWAY_INDEX_KEY", self.index_key),
                ("GATEWAY_SESSION_SECRET", self.session_secret),
            )
            if value is None or not value.get_secret_value().strip()
        ]
        if missing:
            raise ValueError(f"production requires {', '.join(missing)}")
        if not self.public_url.startswith("https://"):
            raise ValueError("production requires an https:// GATEWAY_PUBLIC_URL")
        if len(self.secret("session").strip()) < MIN_SESSION_SECRET:
            raise ValueError(
                f"production requires a GATEWAY_SESSION_SECRET of {MIN_SESSION_SECRET} characters"
                " or more"
            )
        return self

    @property
    def dry_run(self) -> bool:
        """Outbound SMS are recorded instead of sent when no account is configured."""
        return not self.twilio_account_sid

    @property
    def effective_log_format(self) -> LogFormat:
        if self.log_format is not None:
            return self.log_format
        return "json" if self.env == "production" else "console"

    def secret(self, name: Literal["auth_token", "encryption_keys", "index_key", "session"]) -> str:
        """The secret's value, or a SettingsError naming the variable that is missing."""
        field, variable = {
            "auth_token": ("twilio_auth_token", "TWILIO_AUTH_TOKEN"),
            "encryption_keys": ("encryption_keys", "GATEWAY_ENCRYPTION_KEYS"),
            "index_key": ("index_key", "GATEWAY_INDEX_KEY"),
            "session": ("session_secret", "GATEWAY_SESSION_SECRET"),
        }[name]
        value: SecretStr | None = getattr(self, field)
        if value is None or not value.get_secret_value().strip():
            raise SettingsError(f"{variable} is not set")
        return value.get_secret_value()


def _variable_of(location: tuple[int | str, ...]) -> str:
    if not location:
        return "configuration"
    name = str(location[0])
    field = Settings.model_fields.get(name)
    return field.alias if field is not None and field.alias else name


def read_env_file(path: Path) -> str:
    """A `.env` file's text, or a SettingsError saying why it cannot be used."""
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise SettingsError(f"{path} is not UTF-8 text") from None


def load_settings(**overrides: object) -> Settings:
    """Settings from the environment, or a SettingsError that names each bad variable."""
    env_file = Path(".env")
    if env_file.is_file():
        read_env_file(env_file)  # python-dotenv's own error would be a traceback
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = []
        for error in exc.errors(include_input=False, include_url=False):
            message = str(error["msg"]).removeprefix("Value error, ")
            location = tuple(error["loc"])
            problems.append(message if not location else f"{_variable_of(location)}: {message}")
        raise SettingsError("; ".join(problems)) from None
