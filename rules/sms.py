"""SMS encoding: is a text plain GSM-7, and how many segments will it be sent in?

GSM 03.38: the basic table costs one septet per character, the extension table (^ { } [ ] ~ |
\\ € and form feed) two, since each is sent as an escape plus a character. A single GSM-7
message holds 160 septets; a concatenated one 153 per part, and an escape pair is never split
across parts. Any other character makes the whole message UCS-2: 70 UTF-16 code units alone,
67 per part, and a surrogate pair (most emoji) is never split either.
"""

from __future__ import annotations

__all__ = ["GSM7_BASIC", "GSM7_EXTENSION", "is_gsm7", "segments", "septets"]

GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = frozenset("^{}\\[~]|€\f")

_GSM7_SINGLE, _GSM7_PART = 160, 153
_UCS2_SINGLE, _UCS2_PART = 70, 67


def is_gsm7(text: str) -> bool:
    """True when every character is in the GSM-7 basic or extension table."""
    return all(c in GSM7_BASIC or c in GSM7_EXTENSION for c in text)


def septets(text: str) -> int:
    """GSM-7 length: extension characters count two. Only meaningful when is_gsm7(text)."""
    return sum(2 if c in GSM7_EXTENSION else 1 for c in text)


def _parts(units: list[int], single: int, part: int) -> int:
    if sum(units) <= single:
        return 1
    count, used = 1, 0
    for size in units:
        if used + size > part:
            count += 1
            used = 0
        used += size
    return count


def segments(text: str) -> int:
    """How many SMS segments `text` is sent in (an empty text is one empty segment)."""
    if is_gsm7(text):
        units = [2 if c in GSM7_EXTENSION else 1 for c in text]
        return _parts(units, _GSM7_SINGLE, _GSM7_PART)
    units = [2 if ord(c) > 0xFFFF else 1 for c in text]
    return _parts(units, _UCS2_SINGLE, _UCS2_PART)
