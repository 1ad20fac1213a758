"""The spool keeps whole writes encrypted on disk and gives them back intact."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from gateway.audit.store import AuditEvent
from gateway.crypto import DecryptionError, KeyRing, new_key
from gateway.inbound_job import InboundJob
from gateway.spool import Spool

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


async def test_a_spool_file_under_another_key_fails_closed(tmp_path: Path) -> None:
    path = await Spool(tmp_path, KeyRing.parse(new_key())).save(job())
    with pytest.raises(DecryptionError):
        Spool(tmp_path, KeyRing.parse(new_key())).load(path)
