"""Severity on messages a clinician labelled high, medium or low.

tests/data/crisis_severity_set.tsv holds crisis messages (English, Spanish, Canadian French)
with the severity the contract's vocabulary gives them: high for a plan, means at hand,
something in progress or danger now. Underrating a high one is the costly mistake; rating a
low one high costs an on-call clinician a closer look.
"""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

from rules.crisis import detect_crisis

SEVERITY_SET = Path(__file__).resolve().parent.parent / "data" / "crisis_severity_set.tsv"
MIN_HIGH_KEPT_HIGH = 0.90
MAX_LOW_RAISED_HIGH = 0.30


def _assessed() -> Counter[tuple[str, str | None]]:
    with SEVERITY_SET.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE))
    return Counter((row["severity"], detect_crisis(row["text"]).severity) for row in rows)


def test_high_severity_messages_are_rated_high_and_low_ones_mostly_not() -> None:
    counts = _assessed()
    labelled = Counter[str]()
    for (label, _), count in counts.items():
        labelled[label] += count
    assert min(labelled.values()) >= 40, labelled
    assert counts[("high", "high")] / labelled["high"] >= MIN_HIGH_KEPT_HIGH, counts
    assert counts[("low", "high")] / labelled["low"] <= MAX_LOW_RAISED_HIGH, counts
