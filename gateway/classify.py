"""`gateway classify`: crisis-classify messages read one per line, one JSON object per line.

For trying the lexicon on real traffic exports and for scripts. The output carries rule ids and
offsets into the line, never the line itself, so it can be kept where message text may not.
"""

from __future__ import annotations

import json
from typing import TextIO

from rules.crisis import detect_crisis

__all__ = ["classify", "run_classify"]


def classify(text: str, country: str = "US") -> dict[str, object]:
    """The assessment of one message as a JSON-ready dict.

    `country` is accepted for symmetry with the rest of the CLI; detection is by language, not
    by country, so it does not change the result.
    """
    del country
    assessment = detect_crisis(text)
    return {
        "crisis": assessment.crisis,
        "categories": list(assessment.categories),
        "severity": assessment.severity,
        "evidence": [
            {
                "rule": e.rule_id,
                "category": e.category,
                "severity": e.severity,
                "start": e.start,
                "end": e.end,
            }
            for e in assessment.evidence
        ],
    }


def run_classify(stdin: TextIO, stdout: TextIO, country: str) -> int:
    """Classify each line of `stdin` (an empty line too) and write one JSON line per line."""
    for line in stdin:
        text = line.removesuffix("\n").removesuffix("\r")
        stdout.write(json.dumps(classify(text, country)) + "\n")
    stdout.flush()
    return 0
