"""The spool keeps whole writes encrypted on disk and gives them back intact."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import pytest

from gateway.audit.store import AuditEvent
from gateway.crypto import DecryptionError, KeyRing, new_key
from gateway.inbound_job import InboundJob
from gateway.spool import Spool, probe
from gateway.status_job import StatusJob

AT = datetime(2026, 12, 1, 15, tzinfo=UTC)


def job() -> InboundJob:
    return InboundJob(
        message={"id": "m1", "sid": "SM1", "body_enc": b"\x00\x01secret", "at": AT},
        decision={
            "message_id": "m1",
            "rule": "crisis",
            "reason": "r",
            "details": {"a": [1]},
            "decided_at": AT,
        },
        twiml="<Response/>",
        twiml_without_reply="<Response/>",
        outbox=[{"id": "o1", "due_at": AT, "to_enc": b"x"}],
        events=[AuditEvent(AT, "twilio", "message_received", "message:m1", {"flags": ["crisis"]})],
    )


async def test_a_spooled_write_round_trips_and_is_encrypted(tmp_path: Path) -> None:
    spool = Spool(tmp_path, KeyRing.parse(new_key()))
    path = await spool.save(job())
    assert b"crisis" not in path.read_bytes()
    assert b"message_received" not in path.read_bytes()
    [pending] = spool.pending()
    assert spool.load(pending) == job()


async def test_spool_files_and_their_folder_are_the_owners_alone(tmp_path: Path) -> None:
    folder = tmp_path / "spool"
    spool = Spool(folder, KeyRing.parse(new_key()))
    path = await spool.save(job())
    assert (folder.stat().st_mode & 0o777, path.stat().st_mode & 0o777) == (0o700, 0o600)


async def test_a_spool_file_under_another_key_fails_closed(tmp_path: Path) -> None:
    path = await Spool(tmp_path, KeyRing.parse(new_key())).save(job())
    with pytest.raises(DecryptionError):
        Spool(tmp_path, KeyRing.parse(new_key())).load(path)


def test_replicas_probing_one_spool_folder_at_once_all_succeed(tmp_path: Path) -> None:
    # Replicas sharing a spool folder start together; one's probe must not remove another's.
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda _: probe(tmp_path), range(200)))
    assert list(tmp_path.iterdir()) == []


async def test_one_status_callback_spooled_many_times_at_once_is_kept_once(tmp_path: Path) -> None:
    # Twilio repeats a callback; replicas sharing the folder may take the repeats together.
    spool = Spool(tmp_path, KeyRing.parse(new_key()))
    delivered = StatusJob(sid="SM1", status="delivered", error_code=None, at=AT)
    await asyncio.gather(*(spool.save_status(delivered) for _ in range(50)))
    assert spool.waiting() == 1
    left = await asyncio.to_thread(lambda: [path.suffix for path in tmp_path.iterdir()])
    assert left == [".status"]
