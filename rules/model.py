"""The facts a decision is taken on: frozen values handed in by the shell."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from rules.schedule import Schedule, Window

ForwardMode = Literal["sms", "notify", "none"]


@dataclass(frozen=True, slots=True)
class Practice:
    name: str
    country: str
    timezone: str
    new_contact_reply: str | None = None
    # Whether the practice names an on-call number for crises no therapist's number takes.
    has_on_call: bool = False


@dataclass(frozen=True, slots=True)
class Therapist:
    id: str
    name: str
    forward: ForwardMode
    schedule: Schedule


@dataclass(frozen=True, slots=True)
class Client:
    id: str
    therapist_id: str
    agreement: tuple[Window, ...] = ()


@dataclass(frozen=True, slots=True)
class InboundSms:
    body: str
    at: datetime
    # False for short codes and alphanumeric senders: they are recorded, never auto-replied.
    from_is_phone: bool = True


@dataclass(frozen=True, slots=True)
class SenderHistory:
    """What the shell knows of this sender; the preview passes the empty default."""

    opted_out: bool = False
    # Periods (see rules.engine.closed_period) in which this sender already got an auto-reply.
    auto_replied: frozenset[str] = frozenset()
    # Messages from this sender in the last few minutes, this one excluded (loop guard).
    recent_messages: int = 0
    # Auto-replies sent to this sender within those few minutes.
    recent_auto_replies: int = 0
