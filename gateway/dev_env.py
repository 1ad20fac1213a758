"""Development secrets: generated once into `.env` so signatures and encryption work as in
production. Production never gets here (its settings refuse to start without real ones)."""

from __future__ import annotations

import os
from pathlib import Path

from gateway.crypto import development_keys
from gateway.settings import SettingsError, read_env_file

_VARIABLES = (
    "TWILIO_AUTH_TOKEN",
    "GATEWAY_ENCRYPTION_KEYS",
    "GATEWAY_INDEX_KEY",
    "GATEWAY_SESSION_SECRET",
)


def _defined_in(path: Path) -> set[str]:
    if not path.exists():
        if path.is_symlink():
            # Secrets written through it would land wherever it points.
            raise SettingsError(f"{path} is a link to a file that does not exist")
        return set()
    names = set()
    for line in read_env_file(path).splitlines():
        name, sep, _ = line.partition("=")
        if sep and not line.lstrip().startswith("#"):
            names.add(name.strip().removeprefix("export "))
    return names


def ensure_development_secrets(path: Path = Path(".env")) -> list[str]:
    """Append generated values for the secrets that neither the environment nor `.env` set.

    Returns the names written; existing values are never replaced, because data already
    encrypted under them would become unreadable.
    """
    present = _defined_in(path) | {name for name in _VARIABLES if os.environ.get(name)}
    missing = [name for name in _VARIABLES if name not in present]
    if not missing:
        return []
    generated = development_keys()
    lines = ["# Generated for development by Boundary Gateway; never use these in production."]
    lines += [f"{name}={generated[name]}" for name in missing]
    existing = read_env_file(path) if path.exists() else ""
    if existing and not existing.endswith("\n"):
        existing += "\n"
    path.write_text(existing + "\n".join(lines) + "\n", encoding="utf-8")
    path.chmod(0o600)
    return missing
