"""Texts of the automatic replies: crisis, HELP, after hours, no opening, and configured ones.

Every reply is plain GSM-7 and at most two segments (2 x 153 characters), so that it arrives
whole and in order on any phone. Inputs that come from configuration (names, the practice's
own texts) are transliterated to GSM-7 and shortened to fit; the crisis lines themselves are
never shortened.

Safe-messaging (Action Alliance, JED, 988 partners): say the reply is automated and that a
clinician has been alerted, promise no callback time, give the numbers first and exactly,
carry hope and connection, and never mention methods.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from functools import lru_cache

from rules.resources import crisis_resources
from rules.sms import GSM7_BASIC, GSM7_EXTENSION, segments

__all__ = [
    "MAX_SEGMENTS",
    "after_hours_reply",
    "crisis_reply",
    "fit_reply",
    "help_reply",
    "no_opening_reply",
    "to_gsm7",
]

MAX_SEGMENTS = 2
_DEFAULT_THERAPIST = "Your therapist"
_DEFAULT_PRACTICE = "Your therapy practice"
_AUTOMATED = "This is an automated reply."
_NEXT_OPENING = "at the next contact time"
# Names shorter than this after cutting would no longer say who is meant.
_MIN_NAME = 8

_TRANSLITERATE = {
    "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'", "\u2032": "'", "\u00b4": "'",
    "`": "'", "\u02bc": "'", "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u00ab": '"',
    "\u00bb": '"', "\u2033": '"', "\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2013": "-",
    "\u2014": "-", "\u2015": "-", "\u2212": "-", "\u2026": "...", "\u00a0": " ", "\u2009": " ",
    "\u202f": " ", "\t": " ", "\u00e7": "c", "\u0152": "OE", "\u0153": "oe", "\u0141": "L",
    "\u0142": "l", "\u0110": "D", "\u0111": "d", "\u00d0": "D", "\u00f0": "d", "\u00de": "Th",
    "\u00fe": "th", "\u2022": "-", "\u00b7": "-", "\u2122": "TM", "\u00ae": "(R)",
    "\u00a9": "(C)", "\u2116": "No.",
}  # fmt: skip


def _char_to_gsm7(char: str) -> str:
    if char in GSM7_BASIC or char in GSM7_EXTENSION:
        return char
    if char in _TRANSLITERATE:
        return _TRANSLITERATE[char]
    decomposed = unicodedata.normalize("NFKD", char)
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    if stripped and all(c in GSM7_BASIC for c in stripped):
        return stripped
    return ""  # emoji and scripts GSM-7 cannot carry are dropped


def to_gsm7(text: str) -> str:
    """`text` in GSM-7 characters only: accents dropped where needed, curly quotes and dashes
    made plain, anything else (emoji, other scripts) removed."""
    return "".join(_char_to_gsm7(c) for c in text)


def _clean(text: str) -> str:
    """GSM-7, one line, single spaces: for names and other inserted fragments."""
    return re.sub(r"\s+", " ", to_gsm7(text)).strip()


def _clean_name(name: str) -> str:
    """The name in GSM-7, or "" when letters GSM-7 cannot carry would be lost ("Dr. 李明"
    would read "Dr."): a reply naming half a person is worse than "Your therapist"."""
    if any(c.isalpha() and not _char_to_gsm7(c) for c in name):
        return ""
    return _clean(name)


def _fits(text: str) -> bool:
    return segments(text) <= MAX_SEGMENTS


def _shorten(text: str, fits: Callable[[str], bool]) -> str:
    """The longest prefix of `text` for which fits(prefix), cut between words when it can be."""
    if fits(text):
        return text
    low, high = 0, len(text)
    while low < high:  # binary search: a longer prefix never takes fewer segments
        middle = (low + high + 1) // 2
        if fits(text[:middle].rstrip()):
            low = middle
        else:
            high = middle - 1
    prefix = text[:low]
    if text[low : low + 1] not in ("", " ") and " " in prefix.strip():
        prefix = prefix[: prefix.rstrip().rfind(" ")]
    return prefix.rstrip(" ,;:-")


def _with_name(build: Callable[[str], str], name: str, default: str) -> str:
    """build(name), with `name` shortened until the reply fits, or `default` (which must fit)
    when too little of the name would be left to say who is meant."""
    name = _clean_name(name) or default
    text = build(name)
    if _fits(text):
        return text
    # Credentials and titles after a comma ("Dr. Ana Lee, PhD, LCSW") go first: the person's
    # name says who is meant, a word-cut list of letters does not.
    plain = name.split(",", 1)[0].rstrip()
    if len(plain) >= _MIN_NAME and _fits(build(plain)):
        return build(plain)
    name = plain if len(plain) >= _MIN_NAME else name
    shortened = _shorten(name, lambda candidate: _fits(build(candidate)))
    return build(shortened if len(shortened) >= _MIN_NAME else default)


def crisis_reply(country: str) -> str:
    """The reply to a message flagged as a crisis, for the practice's country."""
    lines = crisis_resources(country)
    return (
        f"If you are in danger now, call {lines.emergency}. {lines.reply} "
        "This is an automated reply: a clinician at the practice has been alerted. "
        "You are not alone."
    )


# Replies are remembered: the same few are built for every message.
@lru_cache(maxsize=1024)
def help_reply(practice_name: str, country: str) -> str:
    """The answer to HELP or INFO: who this is, when it is read, and the crisis lines."""
    short = crisis_resources(country).short

    def build(name: str) -> str:
        return (
            f"{name}: this number reaches the practice during its contact hours and is not "
            f"watched around the clock. Reply STOP to opt out. {short}"
        )

    return _with_name(build, practice_name, _DEFAULT_PRACTICE)


@lru_cache(maxsize=1024)
def after_hours_reply(therapist_name: str, opening: str, country: str) -> str:
    """The reply outside contact hours. `opening` is the hours engine's wording of the next
    opening ("tomorrow at 9:00 AM EST", "Monday, July 12 at 9:00 AM EDT")."""
    short = crisis_resources(country).short

    def build_with(when: str) -> Callable[[str], str]:
        return lambda name: f"{name} will read your message {when}. {_AUTOMATED} {short}"

    when = _clean(opening).rstrip(".") or _NEXT_OPENING
    if not _fits(build_with(when)(_DEFAULT_THERAPIST)):
        # Only an opening far longer than the hours engine writes gets here.
        when = _shorten(when, lambda w: _fits(build_with(w)(_DEFAULT_THERAPIST)))
        when = when or _NEXT_OPENING
    return _with_name(build_with(when), therapist_name, _DEFAULT_THERAPIST)


@lru_cache(maxsize=1024)
def no_opening_reply(therapist_name: str, country: str) -> str:
    """The reply when the therapist has no opening within the coming year: no time is given."""
    short = crisis_resources(country).short

    def build(name: str) -> str:
        return (
            f"Your message was received, but {name} is not available by text. {_AUTOMATED} {short}"
        )

    return _with_name(build, therapist_name, "your therapist")


def fit_reply(text: str) -> str:
    """A practice-configured text (such as `new_contact_reply`) made GSM-7 and cut to at most
    two segments, at a word, with "..." when cut."""
    # Dropped emoji leave double spaces behind; line breaks are the practice's to keep.
    cleaned = re.sub(r"[ ]{2,}", " ", to_gsm7(text)).strip()
    if _fits(cleaned):
        return cleaned
    body = _shorten(cleaned, lambda candidate: _fits(candidate + "..."))
    return body + "..."
