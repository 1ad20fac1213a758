"""The schema. Phone numbers, client names and message bodies are stored only encrypted
(`*_enc`, AES-GCM bound to table, column and row) and found through HMAC blind indexes
(`*_index`)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, ClassVar, cast

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from gateway.db.types import UtcDateTime

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

ID = String(64)
DIGEST = String(64)
PHONE = String(32)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UtcDateTime(),
        dict[str, Any]: JSON(),
        list[Any]: JSON(),
    }


class ConfigStateRow(Base):
    """A counter bumped by every change of practice configuration, polled by every process."""

    __tablename__ = "config_state"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version: Mapped[int] = mapped_column(Integer, default=0)


class PracticeRow(Base):
    __tablename__ = "practices"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    country: Mapped[str] = mapped_column(String(2))
    subdivision: Mapped[str | None] = mapped_column(String(16))
    timezone: Mapped[str] = mapped_column(String(64))
    new_contact_reply: Mapped[str | None] = mapped_column(Text)
    on_call_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    closed: Mapped[list[Any]] = mapped_column(default=list)
    updated_at: Mapped[datetime]


class TherapistRow(Base):
    __tablename__ = "therapists"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    number: Mapped[str] = mapped_column(PHONE, index=True)
    forward_to_enc: Mapped[bytes] = mapped_column(LargeBinary)
    forward_to_index: Mapped[str] = mapped_column(DIGEST, index=True)
    forward: Mapped[str] = mapped_column(String(8))
    on_call_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    timezone: Mapped[str] = mapped_column(String(64))
    public_holidays: Mapped[bool] = mapped_column(Boolean)
    hours: Mapped[dict[str, Any]]
    updated_at: Mapped[datetime]


class TimeOffRow(Base):
    __tablename__ = "time_off"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    therapist_id: Mapped[str] = mapped_column(
        ForeignKey("therapists.id", ondelete="CASCADE"), index=True
    )
    start: Mapped[date] = mapped_column(Date)
    end: Mapped[date] = mapped_column(Date)
    note: Mapped[str] = mapped_column(String(200), default="")


class ClientRow(Base):
    __tablename__ = "clients"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    name_enc: Mapped[bytes] = mapped_column(LargeBinary)
    phone_enc: Mapped[bytes] = mapped_column(LargeBinary)
    phone_index: Mapped[str] = mapped_column(DIGEST, unique=True)
    therapist_id: Mapped[str] = mapped_column(ForeignKey("therapists.id"), index=True)
    agreement_hours: Mapped[dict[str, Any] | None]
    agreement_note_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    # Notes written before they were sealed; `gateway migrate` moves them into
    # agreement_note_enc and leaves this empty.
    agreement_note: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class OptOutRow(Base):
    """Opt-out state per sender phone (not per client), as carriers keep it."""

    __tablename__ = "opt_outs"
    phone_index: Mapped[str] = mapped_column(DIGEST, primary_key=True)
    opted_out: Mapped[bool] = mapped_column(Boolean)
    keyword: Mapped[str] = mapped_column(String(16))
    message_id: Mapped[str | None] = mapped_column(ID)
    changed_at: Mapped[datetime]


class MessageRow(Base):
    __tablename__ = "messages"
    # Held messages that no send carries are released by their delivery time.
    __table_args__ = (Index("ix_messages_held", "status", "deliver_at"),)
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    sid: Mapped[str | None] = mapped_column(String(64), unique=True)
    direction: Mapped[str] = mapped_column(String(8))
    practice_number: Mapped[str] = mapped_column(PHONE)
    counterpart_index: Mapped[str] = mapped_column(DIGEST, index=True)
    counterpart_enc: Mapped[bytes] = mapped_column(LargeBinary)
    client_id: Mapped[str | None] = mapped_column(ID, index=True)
    therapist_id: Mapped[str | None] = mapped_column(ID, index=True)
    body_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    body_purged_at: Mapped[datetime | None]
    at: Mapped[datetime] = mapped_column(index=True)
    status: Mapped[str] = mapped_column(String(16))
    # Comma-delimited with leading and trailing commas (",crisis,after_hours,") so that one
    # portable LIKE filters by flag on SQLite and PostgreSQL alike.
    flags: Mapped[str] = mapped_column(String(200), default=",")
    rule: Mapped[str | None] = mapped_column(String(32))
    deliver_at: Mapped[datetime | None]
    twiml: Mapped[str | None] = mapped_column(Text)


class DecisionRow(Base):
    __tablename__ = "decisions"
    message_id: Mapped[str] = mapped_column(
        ForeignKey("messages.id", ondelete="CASCADE"), primary_key=True
    )
    rule: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str] = mapped_column(Text)
    details: Mapped[dict[str, Any]]
    decided_at: Mapped[datetime]


class OutboxRow(Base):
    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_claim", "state", "priority", "due_at"),
        # Reconciling a lost send reads the other sends between the same two numbers.
        Index("ix_outbox_recipient", "to_index", "from_number"),
    )
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    message_id: Mapped[str | None] = mapped_column(ID, index=True)
    kind: Mapped[str] = mapped_column(String(16))
    priority: Mapped[int] = mapped_column(Integer)
    from_number: Mapped[str] = mapped_column(PHONE)
    to_enc: Mapped[bytes] = mapped_column(LargeBinary)
    to_index: Mapped[str] = mapped_column(DIGEST)
    body_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    therapist_id: Mapped[str | None] = mapped_column(ID)
    client_id: Mapped[str | None] = mapped_column(ID)
    due_at: Mapped[datetime]
    state: Mapped[str] = mapped_column(String(12))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    lease_until: Mapped[datetime | None]
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    sid: Mapped[str | None] = mapped_column(String(64), index=True)
    delivery_status: Mapped[str | None] = mapped_column(String(16))
    last_error: Mapped[str | None] = mapped_column(String(200))
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]


class StatusEventRow(Base):
    __tablename__ = "status_events"
    __table_args__ = (UniqueConstraint("sid", "status"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    sid: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))
    error_code: Mapped[int | None] = mapped_column(Integer)
    received_at: Mapped[datetime]


class AutoReplyRow(Base):
    """One auto-reply per sender and period; the key makes it hold across replicas."""

    __tablename__ = "auto_replies"
    phone_index: Mapped[str] = mapped_column(DIGEST, primary_key=True)
    period: Mapped[str] = mapped_column(String(64), primary_key=True)
    message_id: Mapped[str] = mapped_column(ID)
    at: Mapped[datetime]


class AuditEventRow(Base):
    __tablename__ = "audit_events"
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    at: Mapped[datetime] = mapped_column(index=True)
    actor: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(64))
    subject: Mapped[str | None] = mapped_column(String(100))
    details: Mapped[dict[str, Any]]
    prev_hash: Mapped[str] = mapped_column(DIGEST)
    hash: Mapped[str] = mapped_column(DIGEST)


class ApiTokenRow(Base):
    __tablename__ = "api_tokens"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(16))
    therapist_id: Mapped[str | None] = mapped_column(ID)
    secret_hash: Mapped[str] = mapped_column(DIGEST, unique=True)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class SendSlotRow(Base):
    """The next instant each sending number may send again, shared by every delivery worker
    in every process, so that together they never exceed the configured send rate."""

    __tablename__ = "send_slots"
    from_number: Mapped[str] = mapped_column(PHONE, primary_key=True)
    next_at: Mapped[datetime]


class ScheduledJobRow(Base):
    """When a periodic job last ran, so that one worker among many runs it per period."""

    __tablename__ = "scheduled_jobs"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    last_run_at: Mapped[datetime]


# Escalation looks for recent crisis alerts on every pass; without this it would scan the
# whole outbox, which only grows.
Index("ix_outbox_kind_created_at", OutboxRow.kind, OutboxRow.created_at)


class UserRow(Base):
    """A person who signs in to the web pages; the password is kept only as an argon2 hash."""

    __tablename__ = "users"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16))
    therapist_id: Mapped[str | None] = mapped_column(ID)
    created_at: Mapped[datetime]


class WebSessionRow(Base):
    """A signed-in browser; the cookie's secret is stored only as a keyed hash."""

    __tablename__ = "web_sessions"
    id_hash: Mapped[str] = mapped_column(DIGEST, primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]


class LoginAttemptRow(Base):
    """Sign-in attempts per email (hashed: people type passwords into the wrong field), for
    the lock-out after repeated failures."""

    __tablename__ = "login_attempts"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    email_key: Mapped[str] = mapped_column(DIGEST, index=True)
    at: Mapped[datetime]
    succeeded: Mapped[bool] = mapped_column(Boolean)


def table_of(row_class: type[Base]) -> Table:
    """The Core table behind a Row class: inserts through it skip the ORM's bookkeeping, which
    the group writer's hot path does not need."""
    return cast(Table, row_class.__table__)
