"""Settings for command-line commands that touch data."""

from __future__ import annotations

import sys

from gateway.dev_env import ensure_development_secrets
from gateway.settings import Settings, load_settings


def command_settings(*, writes_dev_env: bool = True) -> Settings:
    """The settings, with development secrets generated into `.env` on first use."""
    settings = load_settings()
    if settings.env == "development" and writes_dev_env:
        written = ensure_development_secrets()
        if written:
            sys.stderr.write(f"wrote development values for {', '.join(written)} to .env\n")
            settings = load_settings()
    return settings
