"""What the gateway would do with a message at an instant, decided by the webhook's own
`rules.decide` on the configuration in memory; nothing is stored, sent or audited."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

from gateway.api_services.caller import Caller
from gateway.api_services.context import ApiContext
from gateway.api_services.errors import ForbiddenError, InvalidInputError
from gateway.api_services.instants import utc
from gateway.directory import Directory
from gateway.inbound import InboundService
from gateway.inbound_record import InboundSmsForm
from rules.decisions import Decision, RelayToClient
from rules.engine import decide
from rules.model import SenderHistory

# The rules look a year ahead of `at`; far outside this range a preview means nothing, and
# calendars and time zones stop being defined.
EARLIEST: Final = datetime(1970, 1, 1, tzinfo=UTC)
LATEST: Final = datetime(2200, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class PreviewRequest:
    sender: str
    recipient: str
    body: str
    at: datetime


@dataclass(frozen=True, slots=True)
class PreviewResult:
    rule: str
    reason: str
    reply: str | None
    forward: str | None
    deliver_at: datetime | None
    alert_on_call: bool
    flags: tuple[str, ...]
    open: bool
    next_opening: datetime | None


def preview(context: ApiContext, caller: Caller, request: PreviewRequest) -> PreviewResult:
    if not EARLIEST <= request.at < LATEST:
        raise InvalidInputError("at must be between 1970 and 2199")
    directory = context.directory()
    sender_index = context.vault.phone_index(request.sender)
    if not caller.is_admin and not _own_sender(directory, sender_index, caller.own_therapist()):
        raise ForbiddenError(
            "a therapist's token previews messages from its own clients and its own phone only"
        )
    form = InboundSmsForm(
        sid="preview", from_number=request.sender, to_number=request.recipient, body=request.body
    )
    # The first message from this sender in the period: no auto-reply used and no flood, but
    # an opt-out stands, as it would for the webhook.
    history = SenderHistory(opted_out=sender_index in directory.opted_out)
    facts = InboundService.facts(directory, form, sender_index, history)
    decision = decide(form.sms(request.at), facts)
    return PreviewResult(
        rule=decision.rule,
        reason=decision.reason,
        reply=decision.reply,
        forward=decision.forward,
        deliver_at=utc(decision.deliver_at or _relay_held_until(decision)),
        alert_on_call=decision.alert_on_call,
        flags=decision.flags,
        open=decision.open,
        next_opening=utc(decision.next_opening),
    )


def _own_sender(directory: Directory, sender_index: str, therapist_id: str) -> bool:
    """One of the therapist's clients, or the therapist's own phone (a relay to a client):
    only when no other therapist has that phone, whose clients the relay could name."""
    client_id = directory.client_by_phone_index.get(sender_index)
    if client_id is not None:
        return directory.clients[client_id].therapist_id == therapist_id
    return directory.therapists_by_phone_index.get(sender_index) == (therapist_id,)


def _relay_held_until(decision: Decision) -> datetime | None:
    """A relay outside the client's contact times is held: the text goes at that opening."""
    return next(
        (effect.deliver_at for effect in decision.effects if isinstance(effect, RelayToClient)),
        None,
    )
