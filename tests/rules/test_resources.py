"""Crisis lines per country: present, dated, sourced, and never a retired number."""

from __future__ import annotations

from datetime import date

import pytest

from rules.resources import SUPPORTED_COUNTRIES, crisis_resources
from rules.sms import is_gsm7

RETIRED = ("273-8255", "2738255", "273 8255", "press 3")


@pytest.mark.parametrize(
    ("country", "emergency", "numbers"),
    [
        ("US", "911", ("988", "741741")),
        ("CA", "911", ("988", "686868")),
        ("GB", "999", ("116 123", "85258")),
        ("UK", "999", ("116 123", "85258")),
        ("IE", "112 or 999", ("116 123", "50808")),
        ("AU", "000", ("13 11 14", "0477 13 11 14")),
        ("NZ", "111", ("1737",)),
    ],
)
def test_each_supported_country_has_its_own_lines(
    country: str, emergency: str, numbers: tuple[str, ...]
) -> None:
    resources = crisis_resources(country)
    assert resources.emergency == emergency
    text = " ".join(line.how for line in resources.lines)
    for number in numbers:
        assert number in text
        assert number in resources.short or country in ("CA",)
    assert f"call {emergency}" in resources.short


def test_uk_is_an_alias_of_gb_and_codes_are_case_insensitive() -> None:
    assert crisis_resources("UK") == crisis_resources("GB") == crisis_resources(" gb ")
    assert crisis_resources("us").country == "US"


@pytest.mark.parametrize("country", ["FR", "DE", "MX", "IN", "", "ZZ", "USA"])
def test_other_countries_get_the_generic_fallback_without_guessing_numbers(country: str) -> None:
    resources = crisis_resources(country)
    assert resources.country == "fallback"
    assert "local emergency number" in resources.short
    assert "findahelpline.com" in resources.short
    assert not any(c.isdigit() for c in resources.short + resources.reply)


@pytest.mark.parametrize("country", [*SUPPORTED_COUNTRIES, "fallback"])
def test_every_entry_is_dated_sourced_gsm7_and_free_of_retired_numbers(country: str) -> None:
    resources = crisis_resources(country)
    assert resources.last_verified >= date(2026, 1, 1)
    assert resources.sources
    assert all(source.startswith("https://") for source in resources.sources)
    texts = [resources.short, resources.reply, *(line.how for line in resources.lines)]
    for text in texts:
        assert is_gsm7(text)
        assert not any(retired in text.lower() for retired in RETIRED)
