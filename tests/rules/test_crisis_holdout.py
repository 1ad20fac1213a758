"""Recall and false alarms on messages that neither the lexicon nor the model learned from.

Each hold-out file was written by someone who had not seen the lexicon and was scored before
anything was tuned. Never tune the lexicon or train the model on them: they are the one
measure of how detection does on phrasings it has not seen (numbers in bench/README.md).

- crisis_holdout.tsv: 104 crises and 79 ordinary messages, then 398 more ordinary messages of
  a year's inbox. Lexicon and model together catch 97 of the crises, with 4 false alarms.
- crisis_holdout_2.tsv: 200 crises and 400 ordinary messages, half of them hard negatives
  (idioms, topics, ordinary medication): 100 and 200 in English, 100 and 200 in Spanish and
  Québec French. Together they catch 190 crises, with 11 false alarms.
- crisis_holdout_3.tsv: 97 crises and 198 ordinary messages (70% English, 20% Spanish, 10%
  French), half of them of six words or fewer, written after the last tuning round (five
  messages the dev set already held were left out). Together they catch 90 crises, with 5
  false alarms.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from rules.crisis import detect_crisis

DATA = Path(__file__).resolve().parent.parent / "data"
# (file, least recall, most false alarms): just under what was measured, so a change that
# loses ground on unseen messages shows.
HOLDOUTS = [
    ("crisis_holdout.tsv", 0.90, 0.02),
    ("crisis_holdout_2.tsv", 0.90, 0.05),
    ("crisis_holdout_3.tsv", 0.90, 0.05),
]


def _rows(name: str) -> list[tuple[str, str]]:
    with (DATA / name).open(encoding="utf-8", newline="") as handle:
        return [(r["label"], r["text"]) for r in csv.DictReader(handle, delimiter="\t")]


@pytest.mark.parametrize(("name", "min_recall", "max_alarms"), HOLDOUTS)
def test_most_unseen_crises_are_caught(name: str, min_recall: float, max_alarms: float) -> None:
    crises = [text for label, text in _rows(name) if label == "crisis"]
    caught = sum(detect_crisis(text).crisis for text in crises)
    assert caught / len(crises) >= min_recall, f"{caught} of {len(crises)} caught"


@pytest.mark.parametrize(("name", "min_recall", "max_alarms"), HOLDOUTS)
def test_few_unseen_ordinary_messages_raise_an_alarm(
    name: str, min_recall: float, max_alarms: float
) -> None:
    ordinary = [text for label, text in _rows(name) if label == "ok"]
    alarms = sum(detect_crisis(text).crisis for text in ordinary)
    assert alarms / len(ordinary) <= max_alarms, f"{alarms} of {len(ordinary)}"
