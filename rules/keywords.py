"""Carrier keywords, therapist relays and auto-reply loop signs: the whole-body matches."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Final, Literal

# Twilio's default opt-out handling (Advanced Opt-Out off) answers exactly these.
OPT_OUT: Final = frozenset(
    {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"}
)
OPT_IN: Final = frozenset({"START", "YES", "UNSTOP"})
HELP: Final = frozenset({"HELP", "INFO"})

Keyword = Literal["opt_out", "opt_in", "help"]


def carrier_keyword(body: str) -> tuple[Keyword, str] | None:
    """The keyword kind and word when the whole trimmed body is one, case-insensitively."""
    word = body.strip().upper()
    if word in OPT_OUT:
        return "opt_out", word
    if word in OPT_IN:
        return "opt_in", word
    if word in HELP:
        return "help", word
    return None


# "#c1001 text", "#c1001: text" or "#c1001, text": one colon or comma may end the handle;
# everything after the separator is the text, as typed (":) see you" keeps its smile). A
# handle alone is a request with nothing to send, answered as such.
_RELAY: Final = re.compile(
    r"\s*#([A-Za-z0-9][A-Za-z0-9_.-]{0,63})(?:(?:[:,]\s*|\s+)(.*))?", re.DOTALL
)
# Separators, controls, and format characters such as the zero-width space: nothing to read.
_INVISIBLE: Final = frozenset({"Zs", "Zl", "Zp", "Cc", "Cf"})


def visible(text: str) -> bool:
    """Whether `text` has anything a reader would see."""
    return any(unicodedata.category(char) not in _INVISIBLE for char in text)


@dataclass(frozen=True, slots=True)
class RelayRequest:
    handle: str
    text: str


def parse_relay(body: str) -> RelayRequest | None:
    """`#HANDLE text` from a therapist's phone; anything else is not a relay request."""
    match = _RELAY.fullmatch(body)
    if match is None:
        return None
    return RelayRequest(match.group(1), (match.group(2) or "").strip())


# Openings of replies that machines send: answering them risks an endless reply loop. People
# write "no reply needed" or "do not reply, running late" too, so those do not count.
_AUTOMATED: Final = re.compile(
    r"^\s*(auto[- ]?reply|automatic reply|automated (reply|message|response)|this is an automated"
    r"|out of (the )?office|i am (currently )?(away|out of the office)|noreply\b"
    r"|i'?m driving with do not disturb)",
    re.IGNORECASE,
)


def looks_automated(body: str) -> bool:
    return _AUTOMATED.match(body) is not None
