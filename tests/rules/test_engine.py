"""decide(): precedence, routing, throttling and explanations, with no I/O."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from rules.decisions import (
    AlertOnCall,
    Forward,
    Hold,
    NotifyOptOut,
    RecordOptIn,
    RecordOptOut,
    RelayToClient,
)
from rules.engine import (
    FLOOD_LIMIT,
    FLOOD_REPLIES,
    Facts,
    closed_period,
    decide,
    new_contact_period,
    reason_without_reply,
)
from rules.model import Client, InboundSms, Practice, SenderHistory, Therapist
from rules.schedule import DateRange, Schedule, parse_weekly_hours

NY = ZoneInfo("America/New_York")
PRACTICE = Practice(
    "Lakeside Counseling", "US", "America/New_York", "Thanks for writing. Call (555) 010-2000."
)
LEE = Therapist(
    "lee",
    "Dr. Ana Lee",
    "sms",
    Schedule(
        "America/New_York",
        parse_weekly_hours(
            {"mon": ["09:00-17:00"], "tue": ["09:00-17:00"], "fri": ["21:00-02:00"]}
        ),
        time_off=(
            DateRange(datetime(2026, 12, 24).date(), datetime(2026, 12, 26).date(), "Holidays"),
        ),
    ),
)
OKAFOR = Therapist(
    "okafor", "Sam Okafor", "notify", Schedule("America/Chicago", parse_weekly_hours({}))
)
RILEY = Client("c1002", "lee")
JORDAN = Client("c1001", "lee", parse_weekly_hours({"mon": ["08:00-21:00"]}))
CASEY = Client("c2001", "okafor")
THERAPISTS = {"lee": LEE, "okafor": OKAFOR}
CLIENTS = {client.id: client for client in (RILEY, JORDAN, CASEY)}


def ny(day: int, hour: int, minute: int = 0, month: int = 12) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=NY).astimezone(UTC)


def facts(client: Client | None = RILEY, **changes: object) -> Facts:
    values: dict[str, object] = {
        "practice": PRACTICE,
        "therapists": THERAPISTS,
        "clients": CLIENTS,
        "client": client,
        "number_therapists": ("lee", "okafor"),
    }
    values.update(changes)
    return Facts(**values)  # type: ignore[arg-type]


def sms(body: str, at: datetime, *, phone: bool = True) -> InboundSms:
    return InboundSms(body, at, phone)


TUESDAY_10 = ny(1, 10)
TUESDAY_20 = ny(1, 20)


@pytest.mark.parametrize(
    ("body", "at", "client", "rule", "flags"),
    [
        ("can we move thursday", TUESDAY_10, RILEY, "open", ()),
        ("can we move thursday", TUESDAY_20, RILEY, "closed", ("after_hours",)),
        ("need coaching", ny(30, 19, month=11), JORDAN, "agreement", ()),
        ("STOP", TUESDAY_10, RILEY, "opt_out", ("opt_out",)),
        ("stop", TUESDAY_20, RILEY, "opt_out", ("after_hours", "opt_out")),
        ("Start", TUESDAY_10, RILEY, "opt_in", ()),
        (" help ", TUESDAY_10, RILEY, "help", ()),
        ("i want to kill myself", TUESDAY_10, RILEY, "crisis", ("crisis",)),
        ("i want to kill myself", TUESDAY_20, RILEY, "crisis", ("crisis", "after_hours")),
        ("i want to kill myself", TUESDAY_10, None, "crisis", ("crisis", "unknown_sender")),
        ("hello who is this", TUESDAY_10, None, "unknown_sender", ("unknown_sender",)),
        ("merry christmas", ny(24, 11), RILEY, "closed", ("after_hours",)),
    ],
)
def test_rules_fire_in_the_contracts_order(
    body: str, at: datetime, client: Client | None, rule: str, flags: tuple[str, ...]
) -> None:
    decision = decide(sms(body, at), facts(client))
    assert decision.rule == rule
    assert decision.flags == flags
    assert decision.reason


def test_stop_about_an_appointment_is_still_an_opt_out_and_the_therapist_is_told() -> None:
    decision = decide(sms("Cancel", TUESDAY_10), facts())
    assert decision.rule == "opt_out"
    assert decision.reply is None
    assert RecordOptOut("CANCEL") in decision.effects
    assert NotifyOptOut("lee") in decision.effects
    assert decision.forward is None


def test_the_therapists_opt_out_notice_keeps_the_clients_hours() -> None:
    """It is about a client, so it reaches the therapist when the client's messages would."""
    decision = decide(sms("STOP", TUESDAY_20), facts())
    assert NotifyOptOut("lee", ny(4, 21)) in decision.effects
    assert decision.reason.endswith("; the therapist's notice held until Friday at 9:00 PM EST")
    assert decision.deliver_at is None  # the STOP itself is not held: nothing to deliver


def test_opt_in_is_recorded_without_a_reply() -> None:
    decision = decide(sms("UNSTOP", TUESDAY_10), facts())
    assert decision.effects == (RecordOptIn("UNSTOP"),)


def test_help_is_answered_with_the_crisis_lines_even_after_an_opt_out() -> None:
    decision = decide(sms("INFO", TUESDAY_10), facts(history=SenderHistory(opted_out=True)))
    assert decision.reply is not None
    assert "988" in decision.reply


def test_crisis_reply_ignores_contact_hours_and_opt_out() -> None:
    period = closed_period(ny(4, 21))
    history = SenderHistory(opted_out=True, auto_replied=frozenset({period}), recent_messages=50)
    decision = decide(sms("i took all my pills", TUESDAY_20), facts(history=history))
    assert decision.rule == "crisis"
    assert decision.reply is not None
    assert "988" in decision.reply
    assert decision.alert_on_call
    assert AlertOnCall(("lee",)) in decision.effects
    assert Hold("lee", "sms", ny(4, 21)) in decision.effects
    assert decision.auto_reply_period is None  # the period's auto-reply stays unused


def test_crisis_from_an_unknown_sender_alerts_every_therapist_on_the_number() -> None:
    decision = decide(sms("i want to die", TUESDAY_10), facts(None))
    assert AlertOnCall(("lee", "okafor")) in decision.effects
    assert decision.forward is None
    assert decision.therapist_ids == ("lee", "okafor")


@pytest.mark.parametrize(
    ("body", "rule"), [("STOP", "opt_out"), ("help", "help"), ("start", "opt_in")]
)
def test_a_keyword_from_an_unknown_sender_is_flagged_and_kept_for_the_numbers_therapists(
    body: str, rule: str
) -> None:
    decision = decide(sms(body, TUESDAY_10), facts(None))
    assert decision.rule == rule
    assert "unknown_sender" in decision.flags
    assert decision.therapist_ids == ("lee", "okafor")


def test_crisis_to_a_number_without_therapists_alerts_the_practice_on_call() -> None:
    practice = replace(PRACTICE, has_on_call=True)
    decision = decide(
        sms("i want to die", TUESDAY_10), facts(None, number_therapists=(), practice=practice)
    )
    assert AlertOnCall((), practice=True) in decision.effects
    assert "the practice's on-call alerted" in decision.reason


def test_a_client_writing_to_a_number_without_therapists_is_still_their_therapists() -> None:
    """Riley texts a number no therapist takes: an unknown sender's message by the contract,
    but Dr. Lee's on-call hears of a crisis too, and the message is in her inbox."""
    practice = replace(PRACTICE, has_on_call=True)
    unassigned = facts(RILEY, number_therapists=(), practice=practice)
    crisis = decide(sms("i want to die", TUESDAY_10), unassigned)
    assert AlertOnCall(("lee",), practice=True) in crisis.effects
    assert crisis.reason.endswith("the practice's on-call alerted, and the client's therapist's")
    assert crisis.therapist_ids == ("lee",)
    assert "unknown_sender" in crisis.flags
    ordinary = decide(sms("can we move thursday", TUESDAY_10), unassigned)
    assert ordinary.rule == "unknown_sender"
    assert ordinary.therapist_ids == ("lee",)


def test_a_sender_that_is_not_a_phone_gets_no_reply_even_to_help_or_crisis_words() -> None:
    """A short code or a named sender is a service: no answer that could start a loop of
    automated replies; a crisis in its words still alerts the on-call clinician."""
    crisis = decide(sms("i want to kill myself", TUESDAY_10, phone=False), facts(None))
    assert crisis.rule == "crisis"
    assert crisis.reply is None
    assert crisis.alert_on_call
    help_word = decide(sms("HELP", TUESDAY_10, phone=False), facts(None))
    assert help_word.rule == "help"
    assert help_word.reply is None


def test_an_inbox_only_therapist_gets_no_opt_out_notice_on_the_phone() -> None:
    inbox_only = replace(LEE, forward="none")
    decision = decide(sms("STOP", TUESDAY_10), facts(therapists={**THERAPISTS, "lee": inbox_only}))
    assert decision.rule == "opt_out"
    assert not any(isinstance(effect, NotifyOptOut) for effect in decision.effects)


def test_without_a_practice_on_call_every_therapists_on_call_hears_of_it() -> None:
    """The practice's on-call is optional: a crisis on a number no therapist takes must still
    reach someone, never be reported alerted with no one told."""
    decision = decide(sms("i want to die", TUESDAY_10), facts(None, number_therapists=()))
    assert AlertOnCall(("lee", "okafor")) in decision.effects
    assert decision.alert_on_call
    assert "every therapist's on-call alerted" in decision.reason


def test_closed_reply_names_the_next_opening_and_holds_until_then() -> None:
    decision = decide(sms("hi", TUESDAY_20), facts())
    assert decision.reply is not None
    assert "Dr. Ana Lee" in decision.reply
    assert "Friday at 9:00 PM EST" in decision.reply
    assert decision.deliver_at == ny(4, 21)
    assert decision.next_opening == ny(4, 21)
    assert not decision.open
    assert decision.auto_reply_period == closed_period(ny(4, 21))


def test_one_auto_reply_per_closed_period() -> None:
    period = closed_period(ny(4, 21))
    decision = decide(
        sms("hi", TUESDAY_20), facts(history=SenderHistory(auto_replied=frozenset({period})))
    )
    assert decision.reply is None
    assert decision.deliver_at == ny(4, 21)
    assert "already auto-replied" in decision.reason


def test_a_reply_found_already_sent_is_explained_as_the_rules_would_have() -> None:
    """Another process replied first for the period: the reason then reads as if this one's
    history had known it, never "reply sent" beside "already"."""
    for client, period in (
        (RILEY, closed_period(ny(4, 21))),
        (None, new_contact_period(PRACTICE, TUESDAY_20)),
    ):
        first = decide(sms("hi", TUESDAY_20), facts(client))
        replied = SenderHistory(auto_replied=frozenset({period}))
        known = decide(sms("hi", TUESDAY_20), facts(client, history=replied))
        assert first.reply is not None
        assert known.reply is None
        assert "reply sent" not in reason_without_reply(first.reason)
        assert reason_without_reply(first.reason) == known.reason


def test_a_new_periods_first_auto_reply_goes_after_one_reply_in_a_burst() -> None:
    """A client who wrote a burst and got one auto-reply, then finds a new closed period (the
    therapist's hours changed): that period's first reply still goes."""
    history = SenderHistory(recent_messages=FLOOD_LIMIT + 3, recent_auto_replies=1)
    decision = decide(sms("are you there", TUESDAY_20), facts(history=history))
    assert decision.reply is not None


def test_a_burst_of_messages_still_gets_the_periods_first_auto_reply() -> None:
    history = SenderHistory(recent_messages=FLOOD_LIMIT + 3, recent_auto_replies=0)
    decision = decide(sms("are you there", TUESDAY_20), facts(history=history))
    assert decision.reply is not None
    assert "auto-reply sent" in decision.reason


@pytest.mark.parametrize(
    ("body", "history", "phone", "why"),
    [
        ("hi", SenderHistory(opted_out=True), True, "opted out"),
        ("hi", SenderHistory(), False, "not a phone number"),
        ("Auto-reply: I am away until Monday", SenderHistory(), True, "automated"),
        ("noreply: your code is 381204", SenderHistory(), True, "automated"),
        (
            "I'm driving with Do Not Disturb While Driving turned on.",
            SenderHistory(),
            True,
            "automated",
        ),
        (
            "hi",
            SenderHistory(recent_messages=FLOOD_LIMIT, recent_auto_replies=FLOOD_REPLIES),
            True,
            "too many messages",
        ),
    ],
)
def test_loop_guards_suppress_auto_replies_but_keep_the_message(
    body: str, history: SenderHistory, phone: bool, why: str
) -> None:
    decision = decide(sms(body, TUESDAY_20, phone=phone), facts(history=history))
    assert decision.rule == "closed"
    assert decision.reply is None
    assert decision.deliver_at is not None
    assert why in decision.reason


@pytest.mark.parametrize(
    "body", ["No reply needed, running 10 min late", "Do not reply, just confirming Thursday"]
)
def test_a_person_who_asks_for_no_reply_still_learns_when_they_will_be_read(body: str) -> None:
    decision = decide(sms(body, TUESDAY_20), facts())
    assert decision.rule == "closed"
    assert decision.reply is not None
    assert "will read your message" in decision.reply


def test_in_hours_forwards_with_the_therapists_mode() -> None:
    decision = decide(sms("hi", TUESDAY_10), facts())
    assert decision.effects == (Forward("lee", "sms"),)
    assert decision.open
    assert decision.next_opening is None


def test_a_known_client_reaches_their_own_therapist_on_a_shared_number() -> None:
    decision = decide(sms("hi", TUESDAY_10), facts(CASEY))
    assert decision.therapist_ids == ("okafor",)
    assert decision.rule == "no_opening"
    assert decision.reply is not None
    assert "not available by text" in decision.reply
    assert decision.deliver_at is None


def test_a_crisis_to_a_therapist_with_no_opening_says_its_copy_stays_in_the_inbox() -> None:
    decision = decide(sms("i want to kill myself", TUESDAY_10), facts(CASEY))
    assert (decision.rule, decision.forward, decision.deliver_at) == ("crisis", None, None)
    assert "stays in the inbox" in decision.reason
    assert "follows contact hours" not in decision.reason


def test_unknown_sender_gets_the_new_contact_reply_once_a_day() -> None:
    first = decide(sms("hello", TUESDAY_10), facts(None))
    assert first.reply == PRACTICE.new_contact_reply
    period = first.auto_reply_period
    assert period is not None
    again = decide(
        sms("hello?", TUESDAY_10 + timedelta(hours=1)),
        facts(None, history=SenderHistory(auto_replied=frozenset({period}))),
    )
    assert again.reply is None


def test_a_client_texting_a_number_without_therapists_is_an_unknown_sender() -> None:
    decision = decide(sms("hi", TUESDAY_10), facts(RILEY, number_therapists=()))
    assert decision.rule == "unknown_sender"
    assert decision.flags == ("unknown_sender",)


@pytest.mark.parametrize(
    ("body", "rule", "flags"),
    [
        ("hi", "unknown_sender", ("after_hours", "unknown_sender")),
        ("i want to die", "crisis", ("crisis", "after_hours", "unknown_sender")),
        ("STOP", "opt_out", ("after_hours", "opt_out", "unknown_sender")),
    ],
)
def test_a_client_texting_a_number_without_therapists_out_of_hours_is_flagged_after_hours(
    body: str, rule: str, flags: tuple[str, ...]
) -> None:
    """Flags add up: a known client's message while their therapist is closed is `after_hours`
    whatever else applies, also on a number no therapist takes."""
    decision = decide(sms(body, TUESDAY_20), facts(RILEY, number_therapists=()))
    assert (decision.rule, decision.flags) == (rule, flags)


def test_a_relay_with_a_known_handle_goes_to_the_client() -> None:
    decision = decide(
        sms("#c1002 See you Tuesday at 3.", TUESDAY_10), facts(None, relay_therapists=("lee",))
    )
    assert decision.rule == "relay"
    assert RelayToClient("c1002", "lee", "See you Tuesday at 3.", None) in decision.effects


def test_a_relay_outside_contact_hours_is_held() -> None:
    decision = decide(
        sms("#c1002 See you Tuesday.", TUESDAY_20), facts(None, relay_therapists=("lee",))
    )
    assert RelayToClient("c1002", "lee", "See you Tuesday.", ny(4, 21)) in decision.effects


@pytest.mark.parametrize(
    ("body", "why"),
    [
        ("see you tuesday", "no #handle"),
        ("#c9999 hello", "unknown handle"),
        ("#c2001 hello", "unknown handle"),  # another therapist's client
        ("#c1002 \u3000\u200b", "nothing to send"),  # only invisible characters
        ("#c1002", "nothing to send"),  # the handle alone
        ("#c1002: ", "nothing to send"),
    ],
)
def test_a_relay_without_a_valid_handle_sends_nothing(body: str, why: str) -> None:
    decision = decide(sms(body, TUESDAY_10), facts(None, relay_therapists=("lee",)))
    assert decision.rule == "relay"
    assert why in decision.reason
    assert not any(isinstance(effect, RelayToClient) for effect in decision.effects)
    assert decision.reply is not None


def test_an_unknown_handle_is_not_echoed_back() -> None:
    """What was typed may be a client's name, and the answer is stored as it was sent."""
    decision = decide(sms("#Marigold see you", TUESDAY_10), facts(None, relay_therapists=("lee",)))
    assert decision.reply is not None
    assert "Marigold" not in decision.reply
    assert "#c1001" in decision.reply


@pytest.mark.parametrize(
    ("body", "text"),
    [
        ("#c1002 :) see you", ":) see you"),
        ("#c1002 , fine", ", fine"),
        ("#c1002: see you", "see you"),
        ("#c1002, see you", "see you"),
        ("#c1002 ...ok", "...ok"),
    ],
)
def test_a_relay_sends_exactly_what_follows_the_handle(body: str, text: str) -> None:
    decision = decide(sms(body, TUESDAY_10), facts(None, relay_therapists=("lee",)))
    [relay] = [effect for effect in decision.effects if isinstance(effect, RelayToClient)]
    assert relay.text == text


def test_the_relay_explanation_shows_a_handle_of_the_therapists_own() -> None:
    okafors = decide(sms("hi", TUESDAY_10), facts(None, relay_therapists=("okafor",)))
    assert okafors.reply == (
        "Not sent. To reply to a client from this phone, start with their handle, "
        "e.g. #c2001 Your text."
    )
    nobody = facts(None, relay_therapists=("lee",), clients={})
    assert "e.g. #HANDLE Your text." in (decide(sms("hi", TUESDAY_10), nobody).reply or "")


def test_a_relay_handle_matches_exactly_first_then_regardless_of_case() -> None:
    twins = {**CLIENTS, "C1002": Client("C1002", "lee")}
    relay = facts(None, relay_therapists=("lee",), clients=twins)
    exact = decide(sms("#C1002 hi", TUESDAY_10), relay)
    assert RelayToClient("C1002", "lee", "hi", None) in exact.effects
    capitalised = decide(sms("#C1001 hi", TUESDAY_10), relay)
    assert RelayToClient("c1001", "lee", "hi", None) in capitalised.effects


def test_an_ambiguous_relay_handle_names_both_and_sends_nothing() -> None:
    twins = {**CLIENTS, "Ab7": Client("Ab7", "lee"), "aB7": Client("aB7", "lee")}
    decision = decide(
        sms("#ab7 hi", TUESDAY_10), facts(None, relay_therapists=("lee",), clients=twins)
    )
    assert "ambiguous handle" in decision.reason
    assert (
        decision.reply
        == "Not sent: #ab7 could be #Ab7 or #aB7; write it exactly. Nothing was sent."
    )
    assert not any(isinstance(effect, RelayToClient) for effect in decision.effects)


def test_a_relay_to_an_opted_out_client_is_refused() -> None:
    decision = decide(
        sms("#c1002 hi", TUESDAY_10),
        facts(None, relay_therapists=("lee",), opted_out_clients=frozenset({"c1002"})),
    )
    assert not any(isinstance(effect, RelayToClient) for effect in decision.effects)
    assert "opted out" in decision.reason
