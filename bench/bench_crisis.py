"""Crisis detection throughput, against a keyword baseline, and as the lexicon grows.

    python bench/bench_crisis.py [--json PATH] [--seconds N]

Measures, over the development set repeated to a few thousand messages:
- messages per second of `detect_crisis` (normalisation, gate, rules, suppressions, and the
  model where no rule fired) and of the lexicon alone;
- recall and false alarms on the hold-out sets (messages nothing was tuned or trained on),
  for the lexicon alone and with the model;
- the same for a baseline of `str.lower()` and `in` over ~50 crisis keywords, the approach
  published crisis-text services started from (and outgrew, for recall);
- messages per second with the lexicon compiled as is (1x) and with three synthetic variants
  of every rule added (4x), next to a naive detector that runs every rule's regex on every
  message, to show that the indexed detector's cost does not grow with the lexicon.
Bounded to about 30 seconds by default.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from rules.crisis import (  # noqa: E402 - after the path set-up above
    Detector,
    compile_lexicon,
    detect_crisis,
    detect_lexicon,
)
from rules.crisis_lexicon import Lexicon, Rule, compiled_pattern, load_lexicon  # noqa: E402
from rules.text import fold  # noqa: E402

DEV_SET = REPO / "tests" / "data" / "crisis_dev_set.tsv"
HOLDOUTS = {
    "hold-out 1": REPO / "tests" / "data" / "crisis_holdout.tsv",
    "hold-out 2": REPO / "tests" / "data" / "crisis_holdout_2.tsv",
    "hold-out 3": REPO / "tests" / "data" / "crisis_holdout_3.tsv",
}
MESSAGES = 4000

KEYWORDS = [
    "suicide", "suicidal", "kill myself", "kms", "want to die", "end my life", "end it all",
    "better off dead", "better off without me", "no reason to live", "hang myself", "overdose",
    "overdosed", "pills", "took", "swallowed", "bottle", "gun", "rope", "bridge", "jump",
    "goodbye", "last text", "note", "self harm", "cut myself", "cutting", "burned myself",
    "hurt myself", "relapsed", "blade", "bleeding", "can't breathe", "chest pain", "passed out",
    "kill him", "kill her", "hurt someone", "shoot", "stab", "hit me", "choking", "raped",
    "abuse", "not safe", "following me", "breaking in", "crisis", "emergency", "help me",
]  # fmt: skip


def _labelled(path: Path = DEV_SET) -> list[tuple[bool, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return [(r["label"] == "crisis", r["text"]) for r in csv.DictReader(handle, delimiter="\t")]


def _quality(function: Callable[[str], bool], path: Path = DEV_SET) -> tuple[float, float]:
    """Recall and false-positive rate on the dev set (which the lexicon was tuned on) or on
    another labelled set."""
    labelled = _labelled(path)
    positives = [function(text) for crisis, text in labelled if crisis]
    negatives = [function(text) for crisis, text in labelled if not crisis]
    return sum(positives) / len(positives), sum(negatives) / len(negatives)


def _messages() -> list[str]:
    texts = [text for _, text in _labelled()]
    repeated = (texts * (MESSAGES // len(texts) + 1))[:MESSAGES]
    random.Random(7).shuffle(repeated)
    return repeated


def _keyword_baseline(text: str) -> bool:
    lowered = text.lower()
    return any(keyword in lowered for keyword in KEYWORDS)


def _naive(detector: Detector) -> Callable[[str], bool]:
    """Every rule's regex on every message: what the gate avoids."""
    patterns = [compiled_pattern(indexed.rule.compiled) for indexed in detector.rules]

    def detect(text: str) -> bool:
        folded = fold(text)
        return any(pattern.search(folded) for pattern in patterns)

    return detect


def _rate(function: Callable[[str], object], messages: Sequence[str], budget: float) -> float:
    """Messages per second, over as many passes as fit in `budget` seconds (at least one)."""
    done, started = 0, time.perf_counter()
    while True:
        for message in messages:
            function(message)
        done += len(messages)
        elapsed = time.perf_counter() - started
        if elapsed >= budget:
            return done / elapsed


def _grown(lexicon: Lexicon, factor: int) -> Lexicon:
    """The lexicon with (factor - 1) synthetic variants of each rule.

    Each variant requires one more made-up word before the real pattern, the way new slang
    extends a lexicon: same structure and cost per regex, new vocabulary.
    """
    generator = random.Random(factor)
    letters = "bcdfghjklmnpqrstvwxz"
    rules: list[Rule] = list(lexicon.rules)
    for copy in range(1, factor):
        for rule in lexicon.rules:
            word = "".join(generator.choice(letters) for _ in range(7))
            rules.append(
                replace(
                    rule,
                    id=f"{rule.id}-x{copy}",
                    compiled=rf"\b{word} (?:{rule.compiled})",
                    example=f"{word} {rule.example}",
                )
            )
    return replace(lexicon, rules=tuple(rules))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    parser.add_argument("--seconds", type=float, default=30.0, help="total time budget")
    args = parser.parse_args(argv)
    budget = args.seconds / 9

    messages = _messages()
    detect_crisis(messages[0])  # compile the packaged lexicon outside the timing
    lexicon = load_lexicon()
    one = compile_lexicon(lexicon)
    started = time.perf_counter()
    four = compile_lexicon(_grown(lexicon, 4))
    compile_seconds = time.perf_counter() - started

    results: dict[str, object] = {
        "messages": len(messages),
        "rules": len(lexicon.rules),
        "detect_crisis_per_second": _rate(detect_crisis, messages, budget),
        "lexicon_alone_per_second": _rate(detect_lexicon, messages, budget),
        "keyword_baseline_per_second": _rate(_keyword_baseline, messages, budget),
        "indexed_1x_per_second": _rate(one.detect, messages, budget),
        "indexed_4x_per_second": _rate(four.detect, messages, budget),
        "naive_1x_per_second": _rate(_naive(one), messages, budget),
        "naive_4x_per_second": _rate(_naive(four), messages, budget),
        "compile_4x_seconds": compile_seconds,
        "rules_4x": len(four.rules),
        "regex_engine": f"Python {sys.version.split()[0]} re",
    }
    recall, fpr = _quality(lambda text: detect_crisis(text).crisis)
    baseline_recall, baseline_fpr = _quality(_keyword_baseline)
    holdout = {
        f"{held}, {name}": _quality(function, path)
        for held, path in HOLDOUTS.items()
        for name, function in (
            ("lexicon", lambda text: detect_lexicon(text).crisis),
            ("with_model", lambda text: detect_crisis(text).crisis),
            ("keyword_baseline", _keyword_baseline),
        )
    }
    results["holdout_recall_and_false_positive_rate"] = holdout
    results.update(
        detect_recall=recall,
        detect_false_positive_rate=fpr,
        baseline_recall=baseline_recall,
        baseline_false_positive_rate=baseline_fpr,
    )
    detect = float(str(results["detect_crisis_per_second"]))
    baseline = float(str(results["keyword_baseline_per_second"]))
    results["detect_vs_baseline"] = detect / baseline
    results["indexed_4x_vs_1x"] = float(str(results["indexed_4x_per_second"])) / float(
        str(results["indexed_1x_per_second"])
    )
    results["naive_4x_vs_1x"] = float(str(results["naive_4x_per_second"])) / float(
        str(results["naive_1x_per_second"])
    )

    def show(name: str, key: str) -> None:
        print(f"{name:<44} {float(str(results[key])):>12,.0f} msg/s")

    print(f"{len(messages)} messages from the dev set; lexicon of {len(lexicon.rules)} rules")
    show("detect_crisis", "detect_crisis_per_second")
    show("the lexicon alone", "lexicon_alone_per_second")
    show("baseline: lower() + `in` over 50 keywords", "keyword_baseline_per_second")
    print(f"{'detect_crisis / baseline':<44} {results['detect_vs_baseline']:>12.2f}x")
    print(f"{'dev set recall / FPR, detect_crisis':<44} {recall:>8.3f} / {fpr:.3f}")
    keywords = "dev set recall / FPR, keyword baseline"
    print(f"{keywords:<44} {baseline_recall:>8.3f} / {baseline_fpr:.3f}")
    for name, (held_recall, held_fpr) in holdout.items():
        print(f"{name + ' recall / FPR':<44} {held_recall:>8.3f} / {held_fpr:.3f}")
    show(f"indexed, 1x lexicon ({len(one.rules)} rules)", "indexed_1x_per_second")
    show(f"indexed, 4x lexicon ({len(four.rules)} rules)", "indexed_4x_per_second")
    print(f"{'indexed 4x / 1x':<44} {results['indexed_4x_vs_1x']:>12.2f}x")
    show("naive loop over every regex, 1x", "naive_1x_per_second")
    show("naive loop over every regex, 4x", "naive_4x_per_second")
    print(f"{'naive 4x / 1x':<44} {results['naive_4x_vs_1x']:>12.2f}x")
    print(f"{'compiling the 4x lexicon took':<44} {compile_seconds:>12.2f} s")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
