"""The audit log's hash chain: each entry's hash covers its contents and the previous hash.

Editing, deleting, inserting or reordering an entry breaks the chain at that entry. Removing
entries from the end leaves a shorter, valid chain; that is caught by comparing with a head
(`SEQ:HASH`) kept elsewhere, which `gateway audit head` prints and `--expect-head` checks.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import struct
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final, TypeAlias

__all__ = [
    "GENESIS_HASH",
    "AuditRecord",
    "ChainBuilder",
    "JSONValue",
    "VerifyResult",
    "canonical_bytes",
    "entry_hash",
    "format_head",
    "make_record",
    "parse_head",
    "verify_chain",
]

JSONValue: TypeAlias = str | int | float | bool | list["JSONValue"] | dict[str, "JSONValue"] | None

GENESIS_HASH: Final = "0" * 64

_HASH = re.compile(r"[0-9a-f]{64}")
_HEAD = re.compile(r"([0-9]+):([0-9A-Fa-f]{64})")
# Versioned so the encoding can change one day without old entries hashing alike.
_DOMAIN: Final = b"boundary-gateway/audit/v1\x00"


@dataclass(frozen=True, slots=True)
class AuditRecord:
    seq: int
    at: datetime
    actor: str
    action: str
    subject: str | None
    details: Mapping[str, JSONValue]
    prev_hash: str
    hash: str


@dataclass(frozen=True, slots=True)
class VerifyResult:
    """`head` is the last intact (seq, hash), `(0, GENESIS_HASH)` for an empty chain and None
    when the chain is broken; `checked` counts the entries verified before any break."""

    ok: bool
    checked: int
    head: tuple[int, str] | None
    broken_seq: int | None
    problem: str | None


def canonical_bytes(  # noqa: PLR0917 - an entry's fields, in the record's order
    seq: int,
    at: datetime,
    actor: str,
    action: str,
    subject: str | None,
    details: Mapping[str, JSONValue],
) -> bytes:
    """The one byte encoding of an entry's contents that its hash covers.

    Messages name the offending field, never its value: details may hold health information.
    """
    if isinstance(seq, bool) or not isinstance(seq, int) or seq < 1:
        raise ValueError("audit seq must be a positive integer")
    for name, text in (("actor", actor), ("action", action)):
        if not isinstance(text, str):
            raise ValueError(f"audit {name} must be a string")
    if subject is not None and not isinstance(subject, str):
        raise ValueError("audit subject must be a string or None")
    document = {
        "seq": seq,
        # One instant has one spelling whatever zone it arrived in.
        "at": _utc(at).isoformat(timespec="microseconds"),
        "actor": actor,
        "action": action,
        "subject": subject,
        "details": _plain_details(details),
    }
    text = json.dumps(
        document, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("audit entry holds text that is not valid Unicode") from None


def entry_hash(  # noqa: PLR0917 - an entry's fields, in the record's order
    prev_hash: str,
    seq: int,
    at: datetime,
    actor: str,
    action: str,
    subject: str | None,
    details: Mapping[str, JSONValue],
) -> str:
    """SHA-256 (hex) over the previous hash and the entry's canonical bytes."""
    _check_hash(prev_hash, "previous hash")
    body = canonical_bytes(seq, at, actor, action, subject, details)
    digest = hashlib.sha256(_DOMAIN)
    digest.update(prev_hash.encode("ascii"))
    digest.update(struct.pack(">Q", len(body)))
    digest.update(body)
    return digest.hexdigest()


def make_record(  # noqa: PLR0917 - an entry's fields, in the record's order
    prev: tuple[int, str],
    at: datetime,
    actor: str,
    action: str,
    subject: str | None,
    details: Mapping[str, JSONValue],
) -> AuditRecord:
    """The entry that follows `prev` (seq, hash), without any state to advance."""
    prev_seq, prev_hash = _checked_head(*prev)
    seq = prev_seq + 1
    utc = _utc(at)
    # A private copy, so a caller that later mutates its dict cannot desynchronise the record
    # from its hash.
    plain = _plain_details(details)
    return AuditRecord(
        seq=seq,
        at=utc,
        actor=actor,
        action=action,
        subject=subject,
        details=plain,
        prev_hash=prev_hash,
        hash=entry_hash(prev_hash, seq, utc, actor, action, subject, plain),
    )


class ChainBuilder:
    """Links new entries onto a known head.

    Holds the head in memory only: whoever owns it must be the single writer and start again
    from the database's head after a failed or conflicting write.
    """

    __slots__ = ("_head",)

    def __init__(self, head_seq: int, head_hash: str) -> None:
        self._head = _checked_head(head_seq, head_hash)

    @property
    def head(self) -> tuple[int, str]:
        return self._head

    def append(
        self,
        at: datetime,
        actor: str,
        action: str,
        subject: str | None,
        details: Mapping[str, JSONValue],
    ) -> AuditRecord:
        record = make_record(self._head, at, actor, action, subject, details)
        self._head = (record.seq, record.hash)
        return record

    def __repr__(self) -> str:
        return f"ChainBuilder(head={format_head(*self._head)!r})"


def verify_chain(
    records: Iterable[AuditRecord], expect_head: tuple[int, str] | None = None
) -> VerifyResult:
    """Checks records given in seq order and stops at the first broken entry.

    Holds one record at a time, so it runs over an iterator of any length. With
    `expect_head`, the chain must reach that head unchanged; entries after it are fine,
    because the chain has grown since the head was noted.
    """
    if expect_head is not None:
        expect_head = _checked_head(*expect_head)
    prev_seq, prev_hash = 0, GENESIS_HASH
    checked = 0
    for record in records:
        problem = _link_problem(record, prev_seq, prev_hash) or _content_problem(record)
        if (
            problem is None
            and expect_head is not None
            and record.seq == expect_head[0]
            and record.hash != expect_head[1]
        ):
            problem = "hash does not match the expected head (chain rewritten?)"
        if problem is not None:
            return _broken(checked, record.seq, f"entry {record.seq}: {problem}")
        prev_seq, prev_hash = record.seq, record.hash
        checked += 1
    if expect_head is not None:
        expected_seq = expect_head[0]
        if prev_seq < expected_seq:
            return _broken(
                checked,
                prev_seq + 1,
                f"chain ends at entry {prev_seq} but the expected head is {expected_seq} "
                "(entries removed from the end)",
            )
    return VerifyResult(
        ok=True, checked=checked, head=(prev_seq, prev_hash), broken_seq=None, problem=None
    )


def parse_head(text: str) -> tuple[int, str]:
    """(seq, hash) from `SEQ:HASH`, as `gateway audit head` prints it."""
    match = _HEAD.fullmatch(text.strip())
    if match is None:
        raise ValueError(
            "audit head must be SEQ:HASH: a sequence number, a colon and 64 hex digits"
        )
    return _checked_head(int(match[1]), match[2].lower())


def format_head(seq: int, hash: str) -> str:  # noqa: A002 - the record's field is named hash
    checked_seq, checked_hash = _checked_head(seq, hash)
    return f"{checked_seq}:{checked_hash}"


def _link_problem(record: AuditRecord, prev_seq: int, prev_hash: str) -> str | None:
    seq = record.seq
    if isinstance(seq, bool) or not isinstance(seq, int):
        return "sequence number is not an integer"
    if seq <= prev_seq:
        return f"sequence number does not follow entry {prev_seq} (duplicate or inserted entry?)"
    if seq == prev_seq + 2:
        return f"entry {prev_seq + 1} is missing (deleted?)"
    if seq > prev_seq + 2:
        return f"entries {prev_seq + 1} to {seq - 1} are missing (deleted?)"
    if record.prev_hash != prev_hash:
        if prev_seq == 0:
            return "previous hash is not the genesis hash (inserted entry?)"
        return f"previous hash does not match entry {prev_seq} (deleted or inserted entry?)"
    return None


def _content_problem(record: AuditRecord) -> str | None:
    try:
        expected = entry_hash(
            record.prev_hash,
            record.seq,
            record.at,
            record.actor,
            record.action,
            record.subject,
            record.details,
        )
    except ValueError as exc:
        # Our own messages, which name fields and never values.
        return f"contents cannot be encoded ({exc})"
    if record.hash != expected:
        return "hash does not match its contents (edited?)"
    return None


def _broken(checked: int, seq: int, problem: str) -> VerifyResult:
    return VerifyResult(ok=False, checked=checked, head=None, broken_seq=seq, problem=problem)


def _plain_details(details: Mapping[str, JSONValue]) -> dict[str, JSONValue]:
    if not isinstance(details, Mapping):
        raise ValueError("audit details must be a mapping")
    return _plain_mapping(details)


def _plain_mapping(value: Mapping[str, object]) -> dict[str, JSONValue]:
    plain: dict[str, JSONValue] = {}
    for key, item in value.items():
        # json.dumps would turn 1 into "1", so two different dicts could hash alike.
        if not isinstance(key, str):
            raise ValueError("audit details hold a key that is not a string")
        plain[key] = _plain_json(item)
    return plain


def _plain_json(value: object) -> JSONValue:
    """A plain copy of JSON data; refuses what would not survive a JSON round trip unchanged.

    Messages name the problem, not where it is: key names are chosen by callers too.
    """
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError("audit details hold a non-finite number")
        return value
    if isinstance(value, Mapping):
        return _plain_mapping(value)
    if isinstance(value, list | tuple):
        return [_plain_json(item) for item in value]
    raise ValueError(f"audit details hold a {type(value).__name__}, which is not JSON")


def _utc(at: datetime) -> datetime:
    if not isinstance(at, datetime) or at.utcoffset() is None:
        raise ValueError("audit time must be an aware datetime")
    try:
        return at.astimezone(UTC)
    except OverflowError:
        raise ValueError("audit time is out of range") from None


def _check_hash(value: str, name: str) -> None:
    if not isinstance(value, str) or not _HASH.fullmatch(value):
        raise ValueError(f"audit {name} must be 64 lowercase hex digits")


def _checked_head(seq: int, hash: str) -> tuple[int, str]:  # noqa: A002 - as the field
    if isinstance(seq, bool) or not isinstance(seq, int) or seq < 0:
        raise ValueError("audit head sequence number must be a non-negative integer")
    _check_hash(hash, "head hash")
    if seq == 0 and hash != GENESIS_HASH:
        raise ValueError("audit head 0 must carry the genesis hash")
    return seq, hash
