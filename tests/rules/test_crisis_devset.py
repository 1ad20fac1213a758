"""Recall and false alarms of the packaged lexicon on the development set.

tests/data/crisis_dev_set.tsv holds realistic messages (label, category, text), written before
the lexicon was tuned. Run with `-s` to see the per-category table.
"""

from __future__ import annotations

import csv
from collections import Counter
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from rules.crisis import detect_crisis
from rules.crisis_categories import CATEGORIES

DEV_SET = Path(__file__).resolve().parent.parent / "data" / "crisis_dev_set.tsv"
MIN_RECALL = 0.98
MAX_FALSE_POSITIVE_RATE = 0.05
MIN_CATEGORY_AGREEMENT = 0.90


@dataclass(frozen=True, slots=True)
class Example:
    label: str
    category: str
    text: str


@dataclass(frozen=True, slots=True)
class Scores:
    recall: float
    false_positive_rate: float
    category_agreement: float
    per_category: dict[str, tuple[int, int]]
    missed: tuple[str, ...]
    false_alarms: tuple[str, ...]


def _examples() -> list[Example]:
    with DEV_SET.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    return [Example(r["label"], r["category"], r["text"]) for r in rows]


@cache
def _scores() -> Scores:
    examples = _examples()
    total, caught, agreed = Counter[str](), Counter[str](), 0
    missed, false_alarms, negatives = [], [], 0
    for example in examples:
        assessment = detect_crisis(example.text)
        if example.label == "crisis":
            total[example.category] += 1
            if assessment.crisis:
                caught[example.category] += 1
                agreed += example.category in assessment.categories
            else:
                missed.append(example.text)
        else:
            negatives += 1
            if assessment.crisis:
                false_alarms.append(f"{example.text} ({assessment.reason})")
    positives = sum(total.values())
    return Scores(
        recall=sum(caught.values()) / positives,
        false_positive_rate=len(false_alarms) / negatives,
        category_agreement=agreed / positives,
        per_category={c: (caught[c], total[c]) for c in CATEGORIES},
        missed=tuple(missed),
        false_alarms=tuple(false_alarms),
    )


def test_the_dev_set_is_big_and_balanced_enough() -> None:
    examples = _examples()
    crisis = [e for e in examples if e.label == "crisis"]
    ok = [e for e in examples if e.label == "ok"]
    assert {e.label for e in examples} == {"crisis", "ok"}
    assert len(crisis) >= 160
    assert len(ok) >= 160
    per_category = Counter(e.category for e in crisis)
    assert set(per_category) == set(CATEGORIES)
    assert min(per_category.values()) >= 15
    assert all(e.category == "" for e in ok)
    assert len({e.text for e in examples}) == len(examples), "duplicate messages"


def test_recall_and_false_positive_rate_on_the_dev_set() -> None:
    scores = _scores()
    # The table is for people running `pytest -s`; pytest captures it otherwise.
    lines = [f"crisis dev set: recall {scores.recall:.3f}, FPR {scores.false_positive_rate:.3f}"]
    for category, (caught, total) in scores.per_category.items():
        lines.append(f"  {category:<18} {caught:>3}/{total:<3} {caught / total:.3f}")
    print("\n" + "\n".join(lines))  # noqa: T201 - a report meant for -s
    assert scores.recall >= MIN_RECALL, scores.missed
    assert scores.false_positive_rate <= MAX_FALSE_POSITIVE_RATE, scores.false_alarms


def test_detected_categories_agree_with_the_labels() -> None:
    assert _scores().category_agreement >= MIN_CATEGORY_AGREEMENT
