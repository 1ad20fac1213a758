"""The configuration kept on disk for a start-up during a database outage."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from gateway.config_snapshot import load_snapshot, save_snapshot
from gateway.crypto import KeyRing, new_key
from gateway.practice_config import ClientInfo, Period, PracticeConfig, PracticeInfo

DATABASE = "sqlite+aiosqlite:////var/lib/gateway/gateway.db"
CONFIG = PracticeConfig(
    practice=PracticeInfo(
        "Lakeside Counseling",
        "US",
        "NY",
        "America/New_York",
        None,
        "+15551230009",
        (Period(date(2026, 12, 31), date(2027, 1, 1), "Office closed"),),
    ),
    therapists={},
    clients={"c1001": ClientInfo("c1001", "Jordan D.", "+15557654321", "lee", None, None)},
    version=7,
    opted_out=frozenset({"index-of-a-phone"}),
)


def test_a_snapshot_reads_back_whole_and_unreadable_in_the_clear(tmp_path: Path) -> None:
    keys = KeyRing.parse(new_key())
    path = tmp_path / "spool" / "config.snapshot"
    save_snapshot(path, keys, CONFIG, database=DATABASE)
    assert b"Jordan" not in path.read_bytes()
    assert load_snapshot(path, keys, database=DATABASE) == CONFIG
    assert path.stat().st_mode & 0o777 == 0o600


def test_a_snapshot_serves_only_its_own_database(tmp_path: Path) -> None:
    """A process pointed at another database in the same folder starts without it."""
    keys = KeyRing.parse(new_key())
    path = tmp_path / "config.snapshot"
    save_snapshot(path, keys, CONFIG, database=DATABASE)
    assert load_snapshot(path, keys, database="sqlite+aiosqlite:///other.db") is None
    assert load_snapshot(path, KeyRing.parse(new_key()), database=DATABASE) is None
    assert load_snapshot(tmp_path / "missing", keys, database=DATABASE) is None
