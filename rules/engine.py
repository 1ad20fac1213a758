"""decide(): the one place where precedence lives.

The order is the contract's: a therapist's relay, carrier keywords, crisis, unknown sender,
then contact hours with the client's agreement. The webhook and the preview call this same
function, so a preview cannot drift from what really happens.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Final
from zoneinfo import ZoneInfo

from rules.crisis import CrisisAssessment, detect_crisis
from rules.decisions import (
    AlertOnCall,
    Decision,
    Effect,
    Forward,
    Hold,
    NotifyOptOut,
    RecordOptIn,
    RecordOptOut,
    RelayToClient,
    Reply,
    Rule,
)
from rules.hours import OpenState, is_open, next_opening
from rules.keywords import Keyword, carrier_keyword, looks_automated, parse_relay, visible
from rules.model import Client, InboundSms, Practice, SenderHistory, Therapist
from rules.replies import after_hours_reply, crisis_reply, fit_reply, help_reply, no_opening_reply
from rules.wording import describe_opening

HORIZON: Final = timedelta(days=366)
# At least this many messages from one sender within the shell's window, after this many
# auto-replies in that window, look like a loop or a flood: they are all stored and forwarded,
# but no longer auto-replied. The period's first auto-reply still goes to a sender who had
# fewer auto-replies, so one reply in a burst does not silence the next closed period.
FLOOD_LIMIT: Final = 5
FLOOD_REPLIES: Final = 2
# Reason phrases for a reply sent, or not sent because the period had one already.
REPLY_SENT: Final = "; auto-reply sent"
NEW_CONTACT_REPLY_SENT: Final = "; new-contact reply sent"
ALREADY_REPLIED: Final = "already auto-replied in this period"
OPTED_OUT: Final = "sender opted out"


@dataclass(frozen=True, slots=True)
class Facts:
    """Everything decide() may know, loaded by the shell."""

    practice: Practice
    therapists: Mapping[str, Therapist]
    clients: Mapping[str, Client]
    # The sender, when their number is a client's.
    client: Client | None = None
    # Therapists whose Twilio number the message was sent to.
    number_therapists: tuple[str, ...] = ()
    # Therapists whose own phone sent the message (a relay request).
    relay_therapists: tuple[str, ...] = ()
    history: SenderHistory = field(default_factory=SenderHistory)
    # Clients who opted out, for relays towards them.
    opted_out_clients: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class _Reach:
    therapist: Therapist
    state: OpenState
    opening: datetime | None

    @property
    def open(self) -> bool:
        return self.state.open


def closed_period(opening: datetime | None) -> str:
    """The key of a closed period: its next opening, so one auto-reply covers it."""
    return (
        "no_opening"
        if opening is None
        else "until:" + opening.astimezone(ZoneInfo("UTC")).isoformat()
    )


def new_contact_period(practice: Practice, at: datetime) -> str:
    return "new:" + at.astimezone(ZoneInfo(practice.timezone)).date().isoformat()


def _reach(therapist: Therapist, client: Client, at: datetime) -> _Reach:
    state = is_open(therapist.schedule, at, client.agreement)
    opening = None
    if not state.open:
        found = next_opening(therapist.schedule, at, client.agreement, horizon=HORIZON)
        # Compared and stored as instants: UTC, so that equal instants are equal values.
        opening = found.at.astimezone(UTC) if found is not None else None
    return _Reach(therapist, state, opening)


def _auto_reply_block(sms: InboundSms, history: SenderHistory, period: str) -> str | None:
    """Why no auto-reply may go to this sender now, or None when one may."""
    if history.opted_out:
        return OPTED_OUT
    if not sms.from_is_phone:
        return "sender is not a phone number"
    if looks_automated(sms.body):
        return "message looks automated"
    if history.recent_messages >= FLOOD_LIMIT and history.recent_auto_replies >= FLOOD_REPLIES:
        return "too many messages from this sender in a few minutes"
    if period in history.auto_replied:
        return ALREADY_REPLIED
    return None


def reason_without_reply(reason: str, blocked: str = ALREADY_REPLIED) -> str:
    """The reason of a decision whose reply may not go after all, for the reason `blocked`
    that this process's history of the sender did not know of yet (another process replied
    for the same period, or took the sender's STOP)."""
    return reason.replace(REPLY_SENT, f"; no auto-reply ({blocked})").replace(
        NEW_CONTACT_REPLY_SENT, f"; no new-contact reply ({blocked})"
    )


def decide(sms: InboundSms, facts: Facts) -> Decision:
    if facts.relay_therapists:
        return _relay(sms, facts)
    client = facts.client
    therapist = facts.therapists.get(client.therapist_id) if client is not None else None
    reach = None
    if client is not None and therapist is not None and facts.number_therapists:
        reach = _reach(therapist, client, sms.at)
    flags: list[str] = []
    if _not_reachable(facts, reach, sms.at):
        flags.append("after_hours")
    keyword = carrier_keyword(sms.body)
    if keyword is not None:
        return _keyword(facts, reach, flags, *keyword, at=sms.at, from_phone=sms.from_is_phone)
    crisis = detect_crisis(sms.body)
    if crisis.crisis:
        return _crisis(facts, reach, flags, crisis, from_phone=sms.from_is_phone)
    if reach is None:
        return _unknown_sender(sms, facts, flags)
    return _by_hours(sms, facts, reach, flags)


def _not_reachable(facts: Facts, reach: _Reach | None, at: datetime) -> bool:
    """Whether a known client's message comes while they cannot reach their therapist (flagged
    `after_hours` whatever else applies), also when they wrote to a number no therapist takes:
    it is still their message, kept in their therapist's inbox."""
    if reach is not None:
        return not reach.open
    own = _own_therapist(facts)
    if not own or facts.client is None:
        return False
    return not is_open(facts.therapists[own[0]].schedule, at, facts.client.agreement).open


def _decision(
    rule: Rule,
    reason: str,
    flags: Sequence[str],
    effects: Sequence[Effect],
    reach: _Reach | None,
    *,
    crisis: CrisisAssessment | None = None,
    inbox: tuple[str, ...] | None = None,
) -> Decision:
    """A decision about a known client's message carries their reachability."""
    return Decision(
        rule,
        reason,
        tuple(flags),
        tuple(effects),
        open=reach is not None and reach.open,
        next_opening=reach.opening if reach is not None else None,
        crisis=crisis,
        therapist_ids=inbox if inbox is not None else ((reach.therapist.id,) if reach else ()),
    )


def _delivery(reach: _Reach) -> tuple[Effect, ...]:
    therapist = reach.therapist
    if reach.open:
        return (Forward(therapist.id, therapist.forward),)
    if reach.opening is None:
        return ()
    return (Hold(therapist.id, therapist.forward, reach.opening),)


def _keyword(
    facts: Facts,
    reach: _Reach | None,
    flags: list[str],
    kind: Keyword,
    word: str,
    *,
    at: datetime,
    from_phone: bool,
) -> Decision:
    if kind == "opt_out":
        flags.append("opt_out")
    inbox = None
    if reach is None:
        # Flags add up: a keyword from an unknown sender is still an unknown sender's message,
        # kept in the inbox of the number's therapists.
        flags.append("unknown_sender")
        inbox = facts.number_therapists
    effects: list[Effect] = []
    if kind == "opt_out":
        effects.append(RecordOptOut(word))
        reason = (
            f"carrier opt-out keyword {word}: recorded, not forwarded; "
            "Twilio confirms to the sender"
        )
        # "none" is the inbox alone, where the opt-out shows: nothing goes to the phone.
        if reach is not None and reach.therapist.forward != "none":
            held_until = reach.opening if not reach.open else None
            effects.append(NotifyOptOut(reach.therapist.id, held_until))
            if held_until is not None:
                when = describe_opening(held_until, at, reach.therapist.schedule.timezone)
                reason += f"; the therapist's notice held until {when}"
        return _decision("opt_out", reason, flags, effects, reach, inbox=inbox)
    if kind == "opt_in":
        reason = (
            f"carrier opt-in keyword {word}: recorded, not forwarded; Twilio confirms to the sender"
        )
        return _decision("opt_in", reason, flags, [RecordOptIn(word)], reach, inbox=inbox)
    # Answered even after an opt-out: a client who texts "help" may be in crisis, and the
    # answer carries the crisis lines.
    if not from_phone:
        # A short code or a named sender is a service, not a person: an answer could start
        # a loop of automated replies.
        reason = f"help keyword {word}: not answered (sender is not a phone number)"
        return _decision("help", reason, flags, effects, reach, inbox=inbox)
    effects.append(Reply(help_reply(facts.practice.name, facts.practice.country)))
    reason = f"help keyword {word}: answered with the practice's name and the crisis lines"
    return _decision("help", reason, flags, effects, reach, inbox=inbox)


def _crisis(
    facts: Facts,
    reach: _Reach | None,
    flags: list[str],
    crisis: CrisisAssessment,
    *,
    from_phone: bool,
) -> Decision:
    flags.insert(0, "crisis")
    # A short code or a named sender cannot be a person in crisis, nor read a reply; the
    # on-call clinician is still alerted, in case the words matter.
    effects: list[Effect] = [Reply(crisis_reply(facts.practice.country))] if from_phone else []
    if reach is not None:
        effects.append(AlertOnCall((reach.therapist.id,)))
        effects.extend(_delivery(reach))
        inbox: tuple[str, ...] = (reach.therapist.id,)
        routing = "the client's therapist's on-call clinician alerted"
    else:
        flags.append("unknown_sender")
        inbox = facts.number_therapists
        own = _own_therapist(facts)
        if inbox:
            alerted, routing = inbox, "on-call of every therapist on the number alerted"
            effects.append(AlertOnCall(alerted))
        elif facts.practice.has_on_call:
            routing = "no therapist on the number: the practice's on-call alerted"
            if own:
                # A client of the practice: their own therapist's on-call hears of it too.
                routing += ", and the client's therapist's"
            effects.append(AlertOnCall(own, practice=True))
        else:
            # Someone must hear of it: with no practice on-call, every therapist's does.
            routing = (
                "no therapist on the number and no practice on-call: "
                "every therapist's on-call alerted"
            )
            effects.append(AlertOnCall(tuple(sorted(facts.therapists))))
        inbox = inbox or own
    lines = "crisis lines sent at once" if from_phone else "no reply (sender is not a phone number)"
    reason = f"{crisis.reason}; {lines}; {routing}"
    if reach is not None and not reach.open:
        reason += (
            "; copy to the therapist follows contact hours"
            if reach.opening is not None
            else "; no opening within a year: the copy stays in the inbox"
        )
    return _decision("crisis", reason, flags, effects, reach, crisis=crisis, inbox=inbox)


def _own_therapist(facts: Facts) -> tuple[str, ...]:
    """The therapist of a known client who wrote to a number no therapist takes: the message
    is kept in their inbox (it is their client's), though it is an unknown sender's."""
    client = facts.client
    if client is None or facts.number_therapists or client.therapist_id not in facts.therapists:
        return ()
    return (client.therapist_id,)


def _unknown_sender(sms: InboundSms, facts: Facts, flags: list[str]) -> Decision:
    practice = facts.practice
    period = new_contact_period(practice, sms.at)
    who = "sender matches no client" if facts.client is None else "number matches no therapist"
    effects: list[Effect] = []
    if practice.new_contact_reply is None:
        reason = f"unknown sender ({who}): kept in the inbox; the practice has no new-contact reply"
    else:
        blocked = _auto_reply_block(sms, facts.history, period)
        if blocked is None:
            effects.append(Reply(fit_reply(practice.new_contact_reply), period))
            reason = f"unknown sender ({who}): kept in the inbox{NEW_CONTACT_REPLY_SENT}"
        else:
            reason = f"unknown sender ({who}): kept in the inbox; no new-contact reply ({blocked})"
    return Decision(
        "unknown_sender",
        reason,
        (*flags, "unknown_sender"),
        tuple(effects),
        therapist_ids=facts.number_therapists or _own_therapist(facts),
    )


def _by_hours(sms: InboundSms, facts: Facts, reach: _Reach, flags: list[str]) -> Decision:
    therapist = reach.therapist
    if reach.open:
        rule: Rule = "agreement" if reach.state.source == "agreement" else "open"
        reason = f"{reach.state.reason}: forwarded ({therapist.forward})"
        return _decision(rule, reason, flags, _delivery(reach), reach)
    period = closed_period(reach.opening)
    blocked = _auto_reply_block(sms, facts.history, period)
    country = facts.practice.country
    if reach.opening is None:
        rule = "no_opening"
        reason = f"{reach.state.reason}; no opening within a year: kept in the inbox, not held"
        text = no_opening_reply(therapist.name, country)
    else:
        rule = "closed"
        when = describe_opening(reach.opening, sms.at, therapist.schedule.timezone)
        reason = f"{reach.state.reason}; held until the next opening, {when}"
        text = after_hours_reply(therapist.name, when, country)
    effects: list[Effect] = list(_delivery(reach))
    if blocked is None:
        effects.insert(0, Reply(text, period))
        reason += REPLY_SENT
    else:
        reason += f"; no auto-reply ({blocked})"
    return _decision(rule, reason, flags, effects, reach)


def _clients_by_handle(facts: Facts, handle: str, own: tuple[str, ...]) -> list[Client]:
    """The therapist's clients a handle names: the exact id, else ids equal up to case (phone
    keyboards capitalise the first letter)."""
    mine = [client for client in facts.clients.values() if client.therapist_id in own]
    exact = [client for client in mine if client.id == handle]
    return exact or [client for client in mine if client.id.casefold() == handle.casefold()]


RELAY_OPTED_OUT: Final = "client opted out"


def relay_opted_out_reply(client_id: str) -> str:
    """The therapist's answer when the client of a relay has opted out."""
    return f"Not sent: #{client_id} has opted out of texts."


def relay_refused_reason(why: str) -> str:
    return f"relay from a therapist's phone refused: {why}"


def _relay(sms: InboundSms, facts: Facts) -> Decision:
    request = parse_relay(sms.body)
    own = facts.relay_therapists

    def refuse(why: str, reply: str) -> Decision:
        return Decision(
            "relay",
            relay_refused_reason(why),
            (),
            (Reply(reply),),
            therapist_ids=own,
        )

    mine = sorted(client.id for client in facts.clients.values() if client.therapist_id in own)
    example = f"#{mine[0]}" if mine else "#HANDLE"
    if request is not None and not visible(request.text):
        return refuse(
            "nothing to send after the handle",
            f"Not sent: there was nothing to send after the handle, e.g. {example} Your text.",
        )
    if request is None:
        return refuse(
            "no #handle",
            "Not sent. To reply to a client from this phone, start with their handle, "
            f"e.g. {example} Your text.",
        )
    matches = _clients_by_handle(facts, request.handle, own)
    if not matches:
        # Not echoed: what was typed may be a name, and the answer is stored as sent.
        return refuse(
            "unknown handle",
            "Not sent: that handle is not one of your clients. Use the handle shown in "
            f"forwards, e.g. {example} Your text.",
        )
    if len(matches) > 1:
        handles = " or ".join(f"#{c.id}" for c in sorted(matches, key=lambda c: c.id))
        return refuse(
            "ambiguous handle",
            f"Not sent: #{request.handle} could be {handles}; write it exactly. Nothing was sent.",
        )
    client = matches[0]
    if client.id in facts.opted_out_clients:
        return refuse(RELAY_OPTED_OUT, relay_opted_out_reply(client.id))
    therapist = facts.therapists[client.therapist_id]
    reach = _reach(therapist, client, sms.at)
    if reach.open:
        reply = f"Sent to #{client.id}."
        reason = f"relay to client {client.id}: {reach.state.reason}, sent now"
        deliver_at = None
    elif reach.opening is not None:
        when = describe_opening(reach.opening, sms.at, therapist.schedule.timezone)
        reply = f"Held: #{client.id} will get it {when}, their next contact time."
        reason = f"relay to client {client.id}: {reach.state.reason}; held until {when}"
        deliver_at = reach.opening
    else:
        return refuse(
            "no contact time within a year",
            f"Not sent: #{client.id} has no contact time within a year.",
        )
    effects: tuple[Effect, ...] = (
        RelayToClient(client.id, therapist.id, request.text, deliver_at),
        Reply(reply),
    )
    return Decision(
        "relay",
        reason,
        (),
        effects,
        open=reach.open,
        next_opening=reach.opening,
        therapist_ids=(therapist.id,),
    )
