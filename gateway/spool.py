"""A durable local spool for inbound messages while the database is unreachable.

Each message's whole write (rows and audit events) is kept as one encrypted file, written to
a temporary name, fsync'd and renamed, then the folder is fsync'd: a message that was answered
survives a crash. When the database is back, the spool is replayed through the group writer;
MessageSid idempotency makes a replay of something already stored harmless. An entry the
database refuses for what it holds, rather than for being away, is set aside (renamed
`*.rejected`, kept for an operator) so that it cannot hold back the entries behind it.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import os
import secrets
from collections.abc import Mapping
from datetime import date, datetime
from pathlib import Path
from typing import Any

import structlog

from gateway.audit.chain import JSONValue
from gateway.audit.store import AuditEvent
from gateway.crypto import DecryptionError, KeyRing, aad
from gateway.db.errors import caused_by_its_values
from gateway.delivery.direct import DirectAttempt
from gateway.durable_file import write_durably
from gateway.inbound_job import InboundJob
from gateway.status_job import StatusJob
from gateway.writer import GroupWriter

log = structlog.get_logger(__name__)

_SUFFIX = ".spool"
_STATUS_SUFFIX = ".status"
_REJECTED_SUFFIX = ".rejected"


def _encode(value: Any) -> Any:
    if isinstance(value, bytes):
        return {"$b": base64.b64encode(value).decode("ascii")}
    if isinstance(value, datetime):
        return {"$dt": value.isoformat()}
    if isinstance(value, date):
        return {"$d": value.isoformat()}
    if isinstance(value, dict):
        return {key: _encode(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_encode(item) for item in value]
    return value


def _decode(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {"$b"}:
            return base64.b64decode(value["$b"])
        if set(value) == {"$dt"}:
            return datetime.fromisoformat(value["$dt"])
        if set(value) == {"$d"}:
            return date.fromisoformat(value["$d"])
        return {key: _decode(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_decode(item) for item in value]
    return value


def job_to_json(job: InboundJob) -> bytes:
    data = {
        "message": job.message,
        "decision": job.decision,
        "twiml": job.twiml,
        "twiml_without_reply": job.twiml_without_reply,
        "outbox": job.outbox,
        "outbound_messages": job.outbound_messages,
        "opt_change": job.opt_change,
        "auto_reply": job.auto_reply,
        "answered": job.answered,
        "relay_refused_twiml": job.relay_refused_twiml,
        "events": [
            {
                "at": e.at,
                "actor": e.actor,
                "action": e.action,
                "subject": e.subject,
                "details": e.details,
            }
            for e in job.events
        ],
    }
    return json.dumps(_encode(data), separators=(",", ":")).encode("utf-8")


def job_from_json(raw: bytes) -> InboundJob:
    data = _decode(json.loads(raw))
    return InboundJob(
        message=data["message"],
        decision=data["decision"],
        twiml=data["twiml"],
        twiml_without_reply=data["twiml_without_reply"],
        outbox=data["outbox"],
        outbound_messages=data["outbound_messages"],
        opt_change=data["opt_change"],
        auto_reply=data["auto_reply"],
        relay_refused_twiml=data.get("relay_refused_twiml"),
        events=[AuditEvent(**event) for event in data["events"]],
        answered=data.get("answered", False),
    )


def settle_direct_alerts(job: InboundJob, sent: Mapping[str, DirectAttempt]) -> None:
    """Mark the job's outbox rows whose alert went out directly: sent (and audited as sent, as
    the worker's sends are), or unknown (to be reconciled with Twilio, never sent blindly
    again). One `update` per row, so a writer thread that inserts the same rows meanwhile sees
    either the old row or the settled one."""
    for row in job.outbox:
        attempt = sent.get(row["id"])
        if attempt is None or attempt.again:
            continue
        if attempt.sid is not None:
            row.update({"state": "sent", "sid": attempt.sid, "sent_at": attempt.at, "attempts": 1})
            details: dict[str, JSONValue] = {"kind": "alert", "sid": attempt.sid, "direct": True}
            job.events.append(
                AuditEvent(attempt.at, "delivery", "message_sent", f"outbox:{row['id']}", details)
            )
        else:
            row.update({"state": "unknown", "due_at": attempt.at, "attempts": 1})


def probe(folder: Path) -> None:
    """Write and remove a file as a spooled message would be written; an OSError says the
    folder cannot keep one. The name is this call's own: replicas sharing a spool folder start
    at the same moment, and one's rename must not take the other's file away."""
    write_durably(folder, folder / f".probe-{os.getpid()}-{secrets.token_hex(8)}", b"").unlink()


class Spool:
    def __init__(self, folder: Path, keys: KeyRing) -> None:
        self._folder = folder
        self._keys = keys

    def _path_of(self, message_id: str) -> Path:
        return self._folder / f"{message_id}{_SUFFIX}"

    def _aad(self, name: str) -> bytes:
        return aad("spool", "job", name)

    def _write_durably(self, final: Path, blob: bytes) -> Path:
        return write_durably(self._folder, final, blob)

    def _save_sync(self, job: InboundJob) -> Path:
        name = job.message["id"]
        blob = self._keys.encrypt(job_to_json(job).decode("utf-8"), self._aad(name))
        return self._write_durably(self._path_of(name), blob)

    async def save(self, job: InboundJob) -> Path:
        return await asyncio.to_thread(self._save_sync, job)

    async def save_status(self, job: StatusJob) -> Path:
        """A delivery status callback the database could not take: Twilio does not send it
        again, and a lost "delivered" would repeat a crisis alert. It holds no content or
        number (a SID, a status, an error code), so it is kept in plain JSON."""
        record = {"sid": job.sid, "status": job.status, "code": job.error_code}
        blob = json.dumps({**record, "at": job.at.isoformat()}).encode("utf-8")
        # One file per SID and status: Twilio's own repeats overwrite each other.
        name = hashlib.sha256(f"{job.sid}/{job.status}".encode()).hexdigest()[:32]
        return await asyncio.to_thread(
            self._write_durably, self._folder / f"{name}{_STATUS_SUFFIX}", blob
        )

    def waiting(self) -> int:
        """Messages and status callbacks the database has yet to take."""
        return self.count() + len(self._statuses())

    def _statuses(self) -> list[Path]:
        if not self._folder.exists():
            return []
        return list(self._folder.glob(f"*{_STATUS_SUFFIX}"))

    async def settle_alerts(self, message_id: str, sent: Mapping[str, DirectAttempt]) -> None:
        """Record in a spooled message that some of its crisis alerts already went out directly,
        so that whichever worker sends the outbox later does not alert a second time."""
        path = self._path_of(message_id)
        try:
            job = self.load(path)
        except (OSError, DecryptionError, ValueError, KeyError):
            return  # already written to the database, or unreadable: nothing to settle
        settle_direct_alerts(job, sent)
        await self.save(job)

    def holds(self, message_id: str) -> bool:
        """Whether the message still waits here for the database."""
        return self._path_of(message_id).exists()

    def count(self) -> int:
        """How many messages wait (no stat: files can go while they are counted)."""
        if not self._folder.exists():
            return 0
        return sum(1 for _ in self._folder.glob(f"*{_SUFFIX}"))

    def pending(self) -> list[Path]:
        if not self._folder.exists():
            return []
        return sorted(self._folder.glob(f"*{_SUFFIX}"), key=lambda path: path.stat().st_mtime)

    def answers(self) -> list[tuple[str, str]]:
        """(MessageSid, the answer given) of each waiting message, oldest first: a process
        restarted during the outage answers Twilio's retries of them from here."""
        found = []
        for path in self.pending():
            try:
                job = self.load(path)
            except (OSError, DecryptionError, ValueError, KeyError):
                continue  # written meanwhile, or unreadable: the replay reports the latter
            found.append((job.sid, job.twiml))
        return found

    def load(self, path: Path) -> InboundJob:
        name = path.name.removesuffix(_SUFFIX)
        return job_from_json(self._keys.decrypt(path.read_bytes(), self._aad(name)).encode("utf-8"))

    async def replay(self, writer: GroupWriter) -> int:
        """Write every spooled message; returns how many left the spool."""
        written = 0
        for path in self.pending():
            try:
                job = self.load(path)
            except (DecryptionError, ValueError, KeyError) as exc:
                log.error("spool_entry_unreadable", error_type=type(exc).__name__)
                continue
            took = await _written(writer, job)
            _settle(path, written=took)
            written += took
        # After the messages: a status may be for an alert one of them carried.
        for path in self._statuses():
            try:
                record = json.loads(path.read_bytes())
                status = StatusJob(
                    str(record["sid"]),
                    str(record["status"]),
                    record["code"] if isinstance(record["code"], int) else None,
                    datetime.fromisoformat(record["at"]),
                )
            except (OSError, ValueError, KeyError, TypeError) as exc:
                log.error("spool_entry_unreadable", error_type=type(exc).__name__)
                continue
            took = await _written(writer, status)
            _settle(path, written=took)
            written += took
        if written:
            log.info("spool_replayed", count=written)
        return written


async def _written(writer: GroupWriter, job: InboundJob | StatusJob) -> bool:
    """Whether the database took the entry; one it refuses for what it holds is logged. Any
    other failure (the database away again) raises, and the entry waits for the next replay."""
    try:
        await writer.submit(job)
    except Exception as exc:
        if not caused_by_its_values(exc):
            raise
        log.error("spool_entry_rejected", error_type=type(exc).__name__)
        return False
    return True


def _settle(path: Path, *, written: bool) -> None:
    """A written entry's file goes; a refused one is set aside for an operator."""
    if written:
        path.unlink(missing_ok=True)
    else:
        path.replace(path.with_suffix(_REJECTED_SUFFIX))
