"""The names a lexicon rule and an assessment share: crisis categories and severities.

Categories are listed in the order an assessment reports ties; severities most severe first.
"""

from __future__ import annotations

__all__ = ["CATEGORIES", "SEVERITIES"]

CATEGORIES = (
    "suicidal_ideation",
    "suicide_plan",
    "self_harm",
    "overdose_medical",
    "harm_to_others",
    "abuse_danger",
    "crisis_general",
)
SEVERITIES = ("high", "medium", "low")
