"""Crisis lines per country, from the packaged data file `rules/data/crisis_lines.toml`.

Supported: US, CA, GB (also "UK"), IE, AU, NZ. Any other country gets the generic fallback,
which names no number: guessing another country's emergency number is worse than sending
people to findahelpline.com and their local emergency number.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from functools import cache
from importlib import resources

__all__ = [
    "FALLBACK",
    "SUPPORTED_COUNTRIES",
    "CrisisLine",
    "CrisisResources",
    "crisis_resources",
]

LINES_FILE = "crisis_lines.toml"
FALLBACK = "fallback"
SUPPORTED_COUNTRIES = ("US", "CA", "GB", "IE", "AU", "NZ")
_ALIASES = {"UK": "GB"}


@dataclass(frozen=True, slots=True)
class CrisisLine:
    name: str
    how: str  # e.g. "call or text 988"


@dataclass(frozen=True, slots=True)
class CrisisResources:
    country: str  # ISO 3166-1 alpha-2, or "fallback" for countries without their own entry
    lines: tuple[CrisisLine, ...]
    emergency: str  # "911"; "your local emergency number" in the fallback
    short: str  # the compact fragment used inside other replies
    last_verified: date
    sources: tuple[str, ...]
    reply: str = ""  # the lines as the crisis reply gives them


def _string(table: Mapping[str, object], key: str, where: str) -> str:
    value = table.get(key)
    if not isinstance(value, str) or not value:
        raise ValueError(f"{LINES_FILE} [{where}]: '{key}' must be a non-empty string")
    return value


def _parse(where: str, table: object) -> CrisisResources:
    if not isinstance(table, dict):
        raise ValueError(f"{LINES_FILE} [{where}] must be a table")
    verified = table.get("last_verified")
    if not isinstance(verified, date):
        raise ValueError(f"{LINES_FILE} [{where}]: 'last_verified' must be a date")
    sources = table.get("sources")
    raw_lines = table.get("lines")
    if not isinstance(sources, list) or not all(isinstance(s, str) for s in sources):
        raise ValueError(f"{LINES_FILE} [{where}]: 'sources' must be a list of strings")
    if not isinstance(raw_lines, list) or not raw_lines:
        raise ValueError(f"{LINES_FILE} [{where}]: 'lines' must list at least one line")
    lines = []
    for line in raw_lines:
        if not isinstance(line, dict):
            raise ValueError(f"{LINES_FILE} [{where}]: each line is a table")
        lines.append(CrisisLine(name=_string(line, "name", where), how=_string(line, "how", where)))
    return CrisisResources(
        country=where,
        lines=tuple(lines),
        emergency=_string(table, "emergency", where),
        short=_string(table, "short", where),
        last_verified=verified,
        sources=tuple(str(s) for s in sources),
        reply=_string(table, "reply", where),
    )


@cache
def _all() -> Mapping[str, CrisisResources]:
    source = resources.files("rules").joinpath("data", LINES_FILE).read_text(encoding="utf-8")
    document = tomllib.loads(source)
    return {key: _parse(key, value) for key, value in document.items()}


def crisis_resources(country: str) -> CrisisResources:
    """The crisis lines for an ISO country code (case-insensitive; "UK" means GB)."""
    code = country.strip().upper()
    code = _ALIASES.get(code, code)
    table = _all()
    if code in SUPPORTED_COUNTRIES:
        return table[code]
    return table[FALLBACK]
