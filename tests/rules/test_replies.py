"""Reply texts: GSM-7, at most two segments, crisis lines intact, safe-messaging wording."""

from __future__ import annotations

import pytest

from rules.replies import (
    after_hours_reply,
    crisis_reply,
    fit_reply,
    help_reply,
    no_opening_reply,
    to_gsm7,
)
from rules.resources import SUPPORTED_COUNTRIES, crisis_resources
from rules.sms import is_gsm7, segments
from tests.conftest import REPO

COUNTRIES = [*SUPPORTED_COUNTRIES, "UK", "FR", ""]
OPENINGS = [
    "today at 1:00 PM EST",
    "tomorrow at 9:00 AM EST",
    "Monday at 9:00 AM EST",
    "Wednesday, September 30 at 12:30 PM GMT+5:30",
    "Wednesday, September 29, 2027 at 12:30 PM UTC+5:45",
]
LONG_NAME = "Dr. Maximiliana Alexandrovna Montgomery-Wellington-Featherstonehaugh " * 6
AWKWARD_NAME = "Dr. Zoë O\u2019Brien-Çelik \U0001f33f\t\n Ñuñez"


def _ok(text: str) -> None:
    assert is_gsm7(text), text
    assert segments(text) <= 2, text
    assert "  " not in text


@pytest.mark.parametrize("country", COUNTRIES)
def test_crisis_reply_gives_the_numbers_first_and_says_it_is_automated(country: str) -> None:
    reply = crisis_reply(country)
    _ok(reply)
    resources = crisis_resources(country)
    assert reply.startswith(f"If you are in danger now, call {resources.emergency}.")
    assert resources.reply in reply
    assert "automated" in reply
    assert "alerted" in reply
    assert "You are not alone." in reply
    for forbidden in ("commit", "kill", "method", "pills", "minutes", "hour"):
        assert forbidden not in reply.lower()


def test_crisis_reply_for_the_us() -> None:
    assert crisis_reply("US") == (
        "If you are in danger now, call 911. Call or text 988 (Suicide & Crisis Lifeline) or "
        "text HOME to 741741, any time. En español, escribe AYUDA al 988. This is an automated "
        "reply: a clinician at the practice has been alerted. You are not alone."
    )


@pytest.mark.parametrize("country", COUNTRIES)
@pytest.mark.parametrize("name", ["Lakeside Counseling", AWKWARD_NAME, LONG_NAME, "", "\U0001f33f"])
def test_help_reply_names_the_practice_and_keeps_the_crisis_lines(country: str, name: str) -> None:
    reply = help_reply(name, country)
    _ok(reply)
    assert reply.endswith(crisis_resources(country).short)
    assert "contact hours" in reply
    assert "STOP" in reply


def test_help_reply_reads_well() -> None:
    assert help_reply("Lakeside Counseling", "US").startswith(
        "Lakeside Counseling: this number reaches the practice during its contact hours"
    )


@pytest.mark.parametrize("country", COUNTRIES)
@pytest.mark.parametrize("opening", [*OPENINGS, "x" * 400])
@pytest.mark.parametrize("name", ["Dr. Ana Lee", AWKWARD_NAME, LONG_NAME, ""])
def test_after_hours_reply_always_fits_and_keeps_the_crisis_lines(
    country: str, opening: str, name: str
) -> None:
    reply = after_hours_reply(name, opening, country)
    _ok(reply)
    assert reply.endswith(crisis_resources(country).short)
    assert "automated reply" in reply


@pytest.mark.parametrize("opening", OPENINGS)
def test_after_hours_reply_reads_naturally_for_every_opening_form(opening: str) -> None:
    assert after_hours_reply("Dr. Ana Lee", opening, "US").startswith(
        f"Dr. Ana Lee will read your message {opening}. This is an automated reply. Crisis:"
    )


def test_names_are_transliterated_not_dropped() -> None:
    reply = after_hours_reply(AWKWARD_NAME, "tomorrow at 9:00 AM EST", "US")
    assert reply.startswith("Dr. Zoe O'Brien-Çelik Ñuñez will read your message")


@pytest.mark.parametrize(
    ("name", "said"),
    [
        ("Dr. 李明", "your therapist"),
        ("Δρ. Παπαδόπουλος", "your therapist"),
        ("Dr. Ana 🙂", "Dr. Ana"),
    ],
)
def test_a_name_gsm7_cannot_spell_becomes_your_therapist(name: str, said: str) -> None:
    """Letters are not dropped from a name (it would read "Dr. will read..."); emoji are."""
    reply = after_hours_reply(name, "tomorrow at 9:00 AM EST", "US")
    assert reply.startswith(f"{said[0].upper()}{said[1:]} will read your message")
    assert f"but {said} is not available" in no_opening_reply(name, "US")


def test_long_names_are_cut_between_words() -> None:
    reply = after_hours_reply(LONG_NAME, "tomorrow at 9:00 AM EST", "GB")
    name = reply.split(" will read your message ")[0]
    assert LONG_NAME.startswith(name)
    assert LONG_NAME[len(name)] == " "


@pytest.mark.parametrize("country", COUNTRIES)
def test_a_long_name_drops_what_follows_its_first_comma_before_any_word(country: str) -> None:
    credentials = ", PhD, LCSW, LMFT, Clinical Director of the Lakeside Counseling Group " * 3
    name = "Dr. Maximiliana Josephine Bartholomew-Featherstonehaugh" + credentials
    reply = after_hours_reply(name, "tomorrow at 9:00 AM EST", country)
    _ok(reply)
    assert reply.startswith("Dr. Maximiliana Josephine Bartholomew-Featherstonehaugh will read")
    assert "but Dr. Maximiliana Josephine Bartholomew-Featherstonehaugh is not" in (
        no_opening_reply(name, country)
    )
    assert "Lakeside Counseling:" in help_reply("Lakeside Counseling, " + "LLC " * 60, country)


@pytest.mark.parametrize("country", COUNTRIES)
@pytest.mark.parametrize("name", ["Dr. Ana Lee", AWKWARD_NAME, LONG_NAME])
def test_no_opening_reply_gives_no_time(country: str, name: str) -> None:
    reply = no_opening_reply(name, country)
    _ok(reply)
    assert "not available by text" in reply
    assert reply.endswith(crisis_resources(country).short)
    assert not any(word in reply for word in ("today", "tomorrow", " AM", " PM"))


@pytest.mark.parametrize(
    "text",
    [
        "Thanks for contacting Lakeside Counseling. For new appointments call (555) 010-2000.",
        "Thanks \U0001f60a \u2014 call us \u201canytime\u201d\u2026 " * 20,
        "word " * 200,
        "{braces} and [brackets] " * 30,
        "x" * 1000,
        "",
    ],
)
def test_fit_reply_makes_any_configured_text_gsm7_and_two_segments(text: str) -> None:
    fitted = fit_reply(text)
    assert is_gsm7(fitted)
    assert segments(fitted) <= 2
    if segments(to_gsm7(text).strip()) <= 2 and "\U0001f60a" not in text:
        assert fitted == text.strip()
    elif text:
        assert fitted.endswith("...")


def test_the_documented_crisis_replies_match_the_code() -> None:
    documented = (REPO / "docs" / "crisis-replies.md").read_text(encoding="utf-8")
    for country in [*SUPPORTED_COUNTRIES, "FR"]:
        assert crisis_reply(country) in documented, country


def test_to_gsm7_keeps_gsm_accents_and_replaces_others() -> None:
    assert to_gsm7("é ü ñ á ç \u2019 \u2013 \u2026 \U0001f600") == "é ü ñ a c ' - ... "
