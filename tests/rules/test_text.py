"""Normalisation: what the lexicon sees, and offsets that lead back to the original."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rules.text import fold, normalize


@pytest.mark.parametrize(
    ("raw", "normalised"),
    [
        ("I WANT TO DIE", "i want to die"),
        ("I\u2019m done", "im done"),  # curly apostrophe
        ("I\u2018m done", "im done"),
        ("I\u02bcm done", "im done"),
        ("I\u00b4m done", "im done"),
        ("I`m done", "im done"),
        ("don't can't won't i've", "dont cant wont ive"),
        ("dont cant wont ive", "dont cant wont ive"),  # already without apostrophes
        ("soooo tired", "so tired"),
        ("killll myself", "kil myself"),
        ("kill myself", "kil myself"),  # doubles collapse too, so both spellings meet
        ("kil myself", "kil myself"),
        ("su1cide", "suicide"),
        ("k1ll mys3lf", "kil myself"),
        ("$uicidal", "suicidal"),
        ("k!ll", "kil"),
        ("0verdosed", "overdosed"),
        ("self-harm", "self harm"),
        ("self_delete", "self delete"),
        ("i   want\tto\n\ndie", "i want to die"),
        ("caf\u00e9 na\u00efve", "cafe naive"),
        ("\u26b0\ufe0f", "\u26b0"),  # emoji variation selector
        ("\U0001f44d\U0001f3fd", "\U0001f44d"),  # skin tone
        ("\uff2b\uff49\uff4c\uff4c", "kil"),  # fullwidth "Kill"
        ("help!!!", "help!"),
        ("i want 2 die", "i want to die"),
        ("i need 2 pills", "i ned to pils"),
    ],
)
def test_normalize_folds_case_spelling_and_symbols(raw: str, normalised: str) -> None:
    assert normalize(raw).text == normalised
    assert fold(raw) == normalised


@pytest.mark.parametrize(
    "raw",
    ["took 800mg", "took 20 advil", "at 9am", "5mg of melatonin", "10x", "2nd time", "$150 bill"],
)
def test_numbers_and_units_are_not_leetspeak(raw: str) -> None:
    folded = fold(raw)
    for token in raw.split():
        if any(c.isdigit() for c in token) and token != "2nd":
            assert token.lower() in folded


@pytest.mark.parametrize(
    ("raw", "normalised_part", "original_part"),
    [
        ("I want to killll myself", "kil myself", "killll myself"),
        ("I\u2019m sooo done", "im so done", "I\u2019m sooo done"),
        ("my friend OD'd", "od", "OD'd"),
        ("ready for \u26b0\ufe0f now", "\u26b0", "\u26b0\ufe0f"),
        ("k1ll   mys3lf", "kil myself", "k1ll   mys3lf"),
        ("I want 2 die", "want to die", "want 2 die"),
    ],
)
def test_spans_map_back_to_the_original_text(
    raw: str, normalised_part: str, original_part: str
) -> None:
    normalized = normalize(raw)
    start = normalized.text.index(normalised_part)
    begin, end = normalized.span(start, start + len(normalised_part))
    assert raw[begin:end] == original_part


def test_every_normalised_character_comes_from_an_earlier_or_same_original_one() -> None:
    normalized = normalize("\uff29\u2019mmm SOOO d0ne!!! \U0001f62d\U0001f62d \u26b0\ufe0f")
    assert len(normalized.source) == len(normalized.text)
    assert list(normalized.source) == sorted(normalized.source)


@given(st.text(max_size=80))
def test_fold_and_normalize_agree_and_spans_stay_inside(text: str) -> None:
    normalized = normalize(text)
    assert normalized.text == fold(text)
    assert len(normalized.source) == len(normalized.text)
    for i in range(len(normalized.text)):
        begin, end = normalized.span(i, i + 1)
        assert 0 <= begin < end <= len(text)
