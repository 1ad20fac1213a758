"""What counts as a phone number, for the contract's is_possible_number rule."""

from __future__ import annotations

import pytest

from gateway.phones import is_phone_number


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("+15557654321", True),  # fictional 555 numbers are possible
        ("+447700900123", True),
        ("+61491570156", True),
        ("+1555777", False),  # too short for +1
        ("+155577777777777", False),  # too long
        ("+999123456", False),  # no such country code
        ("72345", False),  # short code
        ("PHARMACY", False),  # alphanumeric sender
        ("+1 555 765 4321", False),  # not E.164
        ("", False),
    ],
)
def test_phone_numbers_are_e164_and_possible(value: str, expected: bool) -> None:
    assert is_phone_number(value) is expected
