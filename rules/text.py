"""Text normalisation for crisis matching, with a map back to the original characters.

People in distress type fast and loosely: curly apostrophes or none at all, "soooo", "k1ll",
"self-harm" or "self harm", emoji with variation selectors. Normalising once lets the lexicon
be written in plain lowercase English. The steps, in order:

1. Non-ASCII characters: compatibility decomposition with accents dropped ("é" -> "e",
   fullwidth -> ASCII), case folding, curly apostrophes and quotes folded to ASCII, dashes to
   spaces, and invisible characters removed (variation selectors, zero-width joiners, emoji
   skin tones), so that "⚰️" and "⚰" are the same.
2. Lowercase; "-", "_" and "`" become a space or an apostrophe.
3. Leetspeak inside words: 0->o 1->i 3->e 4->a 5->s 7->t @->a $->s, and ! or | between letters
   -> i ("su1cide", "k!ll", "$uicide"). Numbers stay numbers: a digit next to another digit is
   left alone ("800mg", "20"), and so is a number with a unit ("5mg", "9am", "10x").
4. Apostrophes are removed ("don't" -> "dont", "I'm" -> "im"), so the lexicon writes
   contractions one way only.
5. Every run of the same letter or ASCII symbol collapses to one character ("soooo" -> "so",
   "killll" -> "kil", "kill" -> "kil", "!!!" -> "!"); runs of emoji stay. The lexicon's
   literals go through the same collapse when it is compiled, so "kill" in a pattern matches
   "kill", "kil" and "killllll" alike.
6. Whitespace runs become one space.
7. A lone "2" after a verb such as "want", "need" or "going" is "to" ("want 2 die").

Steps 1 and 4-6 change lengths; `Normalized.span` maps a span of the normalised text back to
the original, which is what a reviewer highlights.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

__all__ = ["Normalized", "fold", "normalize"]

# (start, end, new_length) of one replacement, in the coordinates of the step's input.
_Edit = tuple[int, int, int]

_APOSTROPHES = "\u2019\u2018\u02bc\u00b4\u0060\u2032\u201b\uff07"
_QUOTES = "\u201c\u201d\u201e\u201f\u00ab\u00bb\u2033"
_DASHES = "\u2010\u2011\u2012\u2013\u2014\u2015\u2212\ufe58\ufe63\uff0d"
_INVISIBLE = frozenset(
    "\ufe0e\ufe0f\u200b\u200c\u200d\u2060\ufeff\u00ad"
    + "".join(chr(c) for c in range(0x1F3FB, 0x1F400))  # emoji skin tones
)

_NON_ASCII = re.compile(r"[^\x00-\x7f]+")
_ASCII_TABLE = str.maketrans({"-": " ", "_": " ", "`": "'"})
_LEET_TABLE = {"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s"}
_LEET_TABLE.update({"!": "i", "|": "i"})
_UNITS = (
    "mg|mcg|ml|g|kg|lbs?|oz|x|k|m|am|pm|hrs?|h|mins?|s|yo|yrs?|d|wks?|mos?|ft|in|cc|st|nd|rd|th"
)
# Each alternative starts with the character itself, so the regex engine can skip ahead to
# candidates; the lookbehinds include that character ("[a-z]." is the letter before it).
_LEET = re.compile(
    r"[013457@$](?:"
    r"(?<=[a-z].)(?![0-9])"  # after a letter: "k1ll", "su1cide", "h3lp"
    rf"|(?<![0-9].)(?=[a-z])(?!(?:{_UNITS})\b)"  # before a letter, unless a unit: "5uicide"
    r")"
    r"|[!|](?<=[a-z].)(?=[a-z])"  # between letters: "k!ll"
)
_APOSTROPHE = re.compile(r"'+")
# All but the first of a run of one letter or ASCII symbol. Emoji runs stay: "💊💊💊" is a count.
_RUN = re.compile(r"(?<=([^\W\d_]|[!-/:-@\[-`{-~]))\1+")
_SPACE = re.compile(r"\s{2,}|[^\S ]")
# "want 2 die": a lone "2" after one of these verbs (already folded) and before a word is "to".
_TWO_AFTER = (
    "want",
    "wants",
    "wanted",
    "wana",
    "ned",
    "neds",
    "neded",
    "going",
    "have",
    "has",
    "had",
    "ready",
    "trying",
    "tryna",
    "about",
    "used",
    "like",
    "love",
    "hate",
    "got",
    "gona",
    "deserve",
    "deserves",
    "suposed",
    "plan",
    "planing",
    "decided",
    "wil",
)
_TWO = re.compile("(?:" + "|".join(rf"(?<=\b{verb})" for verb in _TWO_AFTER) + r") 2(?= [a-z])")


@lru_cache(maxsize=4096)
def _fold_char(char: str) -> str:
    if char in _APOSTROPHES:
        return "'"
    if char in _QUOTES:
        return '"'
    if char in _DASHES:
        return " "
    if char in _INVISIBLE:
        return ""
    decomposed = unicodedata.normalize("NFKD", char)
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c)) or decomposed
    folded = stripped.casefold()
    # Casefold can reintroduce combining marks ("İ" -> "i̇"); drop them again.
    return "".join(c for c in folded if not unicodedata.combining(c))


def _leet_char(match: re.Match[str]) -> str:
    return _LEET_TABLE[match.group()]


def _substitute(
    pattern: re.Pattern[str], replacement: str, text: str, edits: list[list[_Edit]] | None
) -> str:
    if edits is not None:
        n = len(replacement)
        edits.append([(m.start(), m.end(), n) for m in pattern.finditer(text)])
    return pattern.sub(replacement, text)


def _fold_non_ascii(text: str, edits: list[list[_Edit]] | None) -> str:
    step: list[_Edit] = []

    def run(match: re.Match[str]) -> str:
        parts = []
        for offset, char in enumerate(match.group()):
            folded = _fold_char(char)
            if len(folded) != 1:
                start = match.start() + offset
                step.append((start, start + 1, len(folded)))
            parts.append(folded)
        return "".join(parts)

    replace: Callable[[re.Match[str]], str] = run
    result = _NON_ASCII.sub(replace, text)
    if edits is not None:
        edits.append(step)
    return result


def _pipeline(text: str, edits: list[list[_Edit]] | None) -> str:
    if not text.isascii():
        text = _fold_non_ascii(text, edits)
    # The steps below keep lengths (lower() does once non-ASCII text is folded) or are
    # recorded as edits.
    # The `in` checks skip whole passes over the text when they cannot change anything.
    text = text.lower()
    if "-" in text or "_" in text or "`" in text:
        text = text.translate(_ASCII_TABLE)
    text = _LEET.sub(_leet_char, text)
    # Apostrophes go first, so that "od'd" becomes "odd" and then collapses like "odd".
    if "'" in text:
        text = _substitute(_APOSTROPHE, "", text, edits)
    text = _substitute(_RUN, "", text, edits)
    if "  " in text or not text.isprintable():
        text = _substitute(_SPACE, " ", text, edits)
    if " 2 " in text:
        text = _substitute(_TWO, " to", text, edits)
    return text


def fold(text: str) -> str:
    """The normalised text alone: the fast path for matching, with no offset map."""
    return _pipeline(text, None)


def _back(position: int, step: list[_Edit]) -> int:
    """Where the character at `position` of a step's output came from in its input."""
    shift = 0
    for start, end, new_length in step:
        out_start = start + shift
        if position < out_start:
            break
        if position < out_start + new_length:
            return start
        shift += new_length - (end - start)
    return position - shift


@dataclass(frozen=True, slots=True)
class Normalized:
    """Normalised text; `source[i]` is the index in `original` of normalised character i."""

    original: str
    text: str
    source: tuple[int, ...]

    def span(self, start: int, end: int) -> tuple[int, int]:
        """The original span that normalised text[start:end] came from (end exclusive).

        The span runs up to the next character that was kept, so it covers the rest of a
        collapsed run and anything dropped with it: "killll" normalises to "kil", and the
        span of "kil" is all six original characters.
        """
        if start >= end:
            at = self.source[start] if start < len(self.source) else len(self.original)
            return at, at
        following = self.source[end] if end < len(self.source) else len(self.original)
        return self.source[start], max(self.source[end - 1] + 1, following)


def normalize(text: str) -> Normalized:
    """Normalise `text` (see the module's docstring) and keep the map back to it."""
    edits: list[list[_Edit]] = []
    folded = _pipeline(text, edits)
    positions = list(range(len(folded)))
    for step in reversed(edits):
        if step:
            positions = [_back(p, step) for p in positions]
    return Normalized(original=text, text=folded, source=tuple(positions))
