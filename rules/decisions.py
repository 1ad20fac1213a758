"""The closed set of outcomes of a decision: what the shell must do, and why."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from rules.crisis import CrisisAssessment
from rules.model import ForwardMode

Rule = Literal[
    "relay",
    "opt_out",
    "opt_in",
    "help",
    "crisis",
    "unknown_sender",
    "open",
    "agreement",
    "closed",
    "no_opening",
]


@dataclass(frozen=True, slots=True)
class Reply:
    """Text for the TwiML answer to the sender.

    `period` is set on auto-replies: at most one per sender and period, so the shell records
    it and drops the reply if another process already sent one for the same period.
    """

    text: str
    period: str | None = None


@dataclass(frozen=True, slots=True)
class Forward:
    """The message goes to the therapist now, as `mode` says (`none`: inbox only)."""

    therapist_id: str
    mode: ForwardMode


@dataclass(frozen=True, slots=True)
class Hold:
    """The message goes to the therapist at `until`, the next time they can be reached."""

    therapist_id: str
    mode: ForwardMode
    until: datetime


@dataclass(frozen=True, slots=True)
class AlertOnCall:
    """Alert, at once and without content, the on-call numbers of these therapists, and the
    practice's on-call number when `practice` is set (or when no therapist is named)."""

    therapist_ids: tuple[str, ...]
    practice: bool = False


@dataclass(frozen=True, slots=True)
class RecordOptOut:
    keyword: str


@dataclass(frozen=True, slots=True)
class RecordOptIn:
    keyword: str


@dataclass(frozen=True, slots=True)
class NotifyOptOut:
    """A notice without content to the therapist that their client opted out; held until
    `until`, the next time the client could reach them, when that is not now (it tells them
    about the client, so it keeps the same hours as the client's messages)."""

    therapist_id: str
    until: datetime | None = None


@dataclass(frozen=True, slots=True)
class RelayToClient:
    """A therapist's text to their client through the practice number, held until
    `deliver_at` when the contact is closed."""

    client_id: str
    therapist_id: str
    text: str
    deliver_at: datetime | None


Effect = (
    Reply | Forward | Hold | AlertOnCall | RecordOptOut | RecordOptIn | NotifyOptOut | RelayToClient
)


@dataclass(frozen=True, slots=True)
class Decision:
    rule: Rule
    reason: str
    flags: tuple[str, ...]
    effects: tuple[Effect, ...]
    # Whether this sender can reach the therapist at the message's instant, agreement windows
    # included, and when that next becomes true (None while it is true, or never within a year).
    open: bool = False
    next_opening: datetime | None = None
    crisis: CrisisAssessment | None = None
    therapist_ids: tuple[str, ...] = ()

    @property
    def reply(self) -> str | None:
        return next((effect.text for effect in self.effects if isinstance(effect, Reply)), None)

    @property
    def auto_reply_period(self) -> str | None:
        return next(
            (
                effect.period
                for effect in self.effects
                if isinstance(effect, Reply) and effect.period
            ),
            None,
        )

    @property
    def forward(self) -> ForwardMode | None:
        return next(
            (effect.mode for effect in self.effects if isinstance(effect, Forward | Hold)),
            None,
        )

    @property
    def deliver_at(self) -> datetime | None:
        return next((effect.until for effect in self.effects if isinstance(effect, Hold)), None)

    @property
    def alert_on_call(self) -> bool:
        return any(isinstance(effect, AlertOnCall) for effect in self.effects)

    def without_reply(self, why: str) -> Decision:
        """The same decision with its auto-reply dropped (another process sent it first)."""
        return Decision(
            rule=self.rule,
            reason=f"{self.reason}; {why}",
            flags=self.flags,
            effects=tuple(effect for effect in self.effects if not isinstance(effect, Reply)),
            open=self.open,
            next_opening=self.next_opening,
            crisis=self.crisis,
            therapist_ids=self.therapist_ids,
        )
