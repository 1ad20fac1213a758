"""GSM-7 detection and segment counting."""

from __future__ import annotations

import pytest

from rules.sms import is_gsm7, segments, septets


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Call or text 988.", True),
        ("é è ù ì ò Ç Ø å Ä Ö Ñ Ü ß É £ ¥ § ¿ ¡", True),
        ("[brackets] {braces} ~ ^ | \\ €", True),  # the extension table
        ("curly \u2019 apostrophe", False),
        ("emoji \U0001f642", False),
        ("ç lowercase is not in the table", False),
        ("á", False),
        ("", True),
    ],
)
def test_is_gsm7(text: str, expected: bool) -> None:
    assert is_gsm7(text) is expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", 1),
        ("a" * 160, 1),
        ("a" * 161, 2),
        ("a" * 306, 2),
        ("a" * 307, 3),
        ("€" * 80, 1),  # 160 septets
        ("€" * 81, 2),
        ("a" * 152 + "€", 1),  # 154 septets: still one message of 160
        ("\u00e1" * 70, 1),  # UCS-2
        ("\u00e1" * 71, 2),
        ("\u00e1" * 134, 2),
        ("\u00e1" * 135, 3),
        ("\U0001f642" * 35, 1),  # surrogate pairs: two code units each
        ("\U0001f642" * 36, 2),
    ],
)
def test_segments(text: str, expected: int) -> None:
    assert segments(text) == expected


def test_an_escape_pair_is_never_split_across_parts() -> None:
    # 152 plain septets then "€": 154 septets, but the pair cannot straddle the 153 boundary,
    # so it moves to part two; 152 more then fill part two up to 155 > 153: three parts.
    assert segments("a" * 152 + "€" + "a" * 151) == 2
    assert segments("a" * 152 + "€" + "a" * 152) == 3


def test_septets_count_extension_characters_twice() -> None:
    assert septets("a{b}") == 6
