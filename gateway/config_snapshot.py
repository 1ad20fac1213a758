"""The last configuration this process loaded, kept on disk (encrypted) for a start-up during
a database outage: without it a restarted gateway could not answer even a crisis message."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from datetime import date
from pathlib import Path
from typing import Any

from gateway.crypto import DecryptionError, KeyRing, aad
from gateway.durable_file import write_durably
from gateway.practice_config import ClientInfo, Period, PracticeConfig, PracticeInfo, TherapistInfo

SNAPSHOT_FILE = "config.snapshot"


def snapshot_path(spool_dir: Path) -> Path:
    return spool_dir / SNAPSHOT_FILE


def _aad(database: str) -> bytes:
    """Binds a snapshot to its database: a process pointed at another database (a new, empty
    one in the same working folder, say) must not answer with this one's practice."""
    return aad("config", "snapshot", hashlib.sha256(database.encode()).hexdigest())


def _periods(items: list[dict[str, Any]]) -> tuple[Period, ...]:
    return tuple(
        Period(date.fromisoformat(p["start"]), date.fromisoformat(p["end"]), p["note"])
        for p in items
    )


def _encode(config: PracticeConfig) -> str:
    data = asdict(config)
    data["opted_out"] = sorted(config.opted_out)
    return json.dumps(
        data, default=lambda value: value.isoformat() if isinstance(value, date) else str(value)
    )


def _decode(text: str) -> PracticeConfig:
    data = json.loads(text)
    practice = data["practice"]
    return PracticeConfig(
        practice=(
            PracticeInfo(**{**practice, "closed": _periods(practice["closed"])})
            if practice is not None
            else None
        ),
        therapists={
            key: TherapistInfo(
                **{
                    **item,
                    "time_off": _periods(item["time_off"]),
                    "time_off_ids": tuple(item["time_off_ids"]),
                }
            )
            for key, item in data["therapists"].items()
        },
        clients={key: ClientInfo(**item) for key, item in data["clients"].items()},
        version=data["version"],
        opted_out=frozenset(data["opted_out"]),
    )


def save_snapshot(path: Path, keys: KeyRing, config: PracticeConfig, *, database: str) -> None:
    write_durably(path.parent, path, keys.encrypt(_encode(config), _aad(database)))


def load_snapshot(path: Path, keys: KeyRing, *, database: str) -> PracticeConfig | None:
    """The configuration saved for `database`, or None when there is none that these keys
    can read."""
    try:
        return _decode(keys.decrypt(path.read_bytes(), _aad(database)))
    except (OSError, DecryptionError, ValueError, KeyError, TypeError):
        return None
