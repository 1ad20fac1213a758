"""What counts as a phone number: E.164 that `phonenumbers.is_possible_number` accepts.

Fictional 555 numbers pass (`is_valid_number` would refuse them); short codes, alphanumeric
senders and numbers of an impossible length for their country code do not.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Final

import phonenumbers

E164: Final = re.compile(r"\+[1-9]\d{6,14}")


@lru_cache(maxsize=8192)  # senders write again; parsing costs tens of microseconds
def is_phone_number(value: str) -> bool:
    if E164.fullmatch(value) is None:
        return False
    try:
        return bool(phonenumbers.is_possible_number(phonenumbers.parse(value, None)))
    except phonenumbers.NumberParseException:
        return False
