"""Train the crisis model (rules/data/crisis_model.json) from the development set.

    .venv/bin/pip install -e '.[train]'   # scikit-learn: training only, the gateway never needs it
    .venv/bin/python tools/train_crisis_model.py [--cross-validate] [--check BATCH.tsv ...]

Features are `rules.crisis_model.features` of the folded text, weighted by TF-IDF and scaled
to unit length exactly as the gateway does. Two logistic regressions are fitted: crisis
against ordinary (balanced classes), and, on the crisis rows, which category. Only the
features that carry the most weight are kept, and the model is fitted again on those, so the
file stays small and every kept feature counts. `--check` scores batches of labelled messages
(the dev set's format) that the model did not learn from, with the lexicon beside it.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
from collections import Counter
from pathlib import Path

import numpy as np
from scipy.sparse import csr_matrix
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from rules.crisis import default_detector, detect_lexicon, with_model  # noqa: E402
from rules.crisis_categories import CATEGORIES  # noqa: E402
from rules.crisis_model import FORMAT, CrisisModel, features, parse_model, weighted  # noqa: E402
from rules.text import fold  # noqa: E402

DEV_SET = REPO / "tests" / "data" / "crisis_dev_set.tsv"
OUTPUT = REPO / "rules" / "data" / "crisis_model.json"
MIN_DF = {"w": 2, "b": 2, "c": 3}
KEEP = 12000
C = 8.0
THRESHOLD = 0.7
MIN_WORDS = 5


def read(path: Path) -> list[tuple[str, str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return [
            (r["label"], r["category"], r["text"]) for r in csv.DictReader(handle, delimiter="\t")
        ]


def document_frequency(counted: list[Counter[str]]) -> Counter[str]:
    df: Counter[str] = Counter()
    for counts in counted:
        df.update(counts.keys())
    return df


def vocabulary(df: Counter[str]) -> list[str]:
    return sorted(f for f, n in df.items() if n >= MIN_DF[f[0]])


def idf_of(df: Counter[str], documents: int, names: list[str]) -> list[float]:
    return [math.log((1 + documents) / (1 + df[name])) + 1.0 for name in names]


def matrix(counted: list[Counter[str]], names: list[str], idf: list[float]) -> csr_matrix:
    """Rows weighted exactly as the gateway weighs a message (`rules.crisis_model.weighted`)."""
    index = {name: column for column, name in enumerate(names)}
    data, rows, cols = [], [], []
    for row, counts in enumerate(counted):
        for col, value in weighted(counts, index, idf).items():
            rows.append(row)
            cols.append(col)
            data.append(value)
    return csr_matrix((data, (rows, cols)), shape=(len(counted), len(names)))


def fit(rows: list[tuple[str, str, str]], threshold: float) -> dict[str, object]:
    counted = [features(fold(text)) for _, _, text in rows]
    labels = np.array([label == "crisis" for label, _, _ in rows], dtype=int)
    df = document_frequency(counted)
    names = vocabulary(df)
    first = LogisticRegression(C=C, class_weight="balanced", max_iter=5000)
    first.fit(matrix(counted, names, idf_of(df, len(rows), names)), labels)
    order = np.argsort(-np.abs(first.coef_[0]))[:KEEP]
    names = sorted(names[i] for i in order)
    idf = idf_of(df, len(rows), names)
    x = matrix(counted, names, idf)
    crisis = LogisticRegression(C=C, class_weight="balanced", max_iter=5000).fit(x, labels)
    positive = np.flatnonzero(labels)
    kinds = [rows[i][1] for i in positive]
    category = LogisticRegression(C=C, max_iter=5000).fit(x[positive], kinds)
    ordered = [c for c in CATEGORIES if c in set(category.classes_)]
    position = {c: list(category.classes_).index(c) for c in ordered}
    return {
        "format": FORMAT,
        "trained_on": f"{len(rows)} messages of tests/data/crisis_dev_set.tsv",
        "features": names,
        "idf": [round(v, 5) for v in idf],
        "crisis": {
            "weights": [round(float(w), 5) for w in crisis.coef_[0]],
            "bias": round(float(crisis.intercept_[0]), 5),
            "threshold": threshold,
            "min_words": MIN_WORDS,
        },
        "category": {
            "names": ordered,
            "weights": [[round(float(w), 4) for w in category.coef_[position[c]]] for c in ordered],
            "biases": [round(float(category.intercept_[position[c]]), 5) for c in ordered],
        },
    }


def cross_validate(rows: list[tuple[str, str, str]], threshold: float) -> None:
    """False alarms the model adds on ordinary messages it did not learn from."""
    labels = [label for label, _, _ in rows]
    added = caught = crises = ordinary = 0
    for train, test in StratifiedKFold(5, shuffle=True, random_state=7).split(rows, labels):
        model = parse_model(fit([rows[i] for i in train], threshold))
        for i in test:
            label, _, text = rows[i]
            fires = model.score(fold(text)).crisis
            if label == "crisis":
                crises += 1
                caught += fires
            else:
                ordinary += 1
                added += fires and not detect_lexicon(text).crisis
    print(
        f"5-fold: model alone catches {caught}/{crises} crises of the dev set; "
        f"adds {added} false alarms to the lexicon's on {ordinary} ordinary messages"
    )


def check(model: CrisisModel, path: Path) -> None:
    rows = read(path)
    crises = [text for label, _, text in rows if label == "crisis"]
    ordinary = [text for label, _, text in rows if label != "crisis"]

    def both(text: str) -> bool:
        return with_model(detect_lexicon(text), text, model, default_detector()).crisis

    lexicon = sum(detect_lexicon(t).crisis for t in crises)
    caught = sum(both(t) for t in crises)
    alarms = sum(detect_lexicon(t).crisis for t in ordinary)
    alarms_both = sum(both(t) for t in ordinary)
    print(
        f"{path.name}: crises caught by the lexicon {lexicon}/{len(crises)}, with the model "
        f"{caught}/{len(crises)}; false alarms {alarms} -> {alarms_both} of {len(ordinary)}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", nargs="*", type=Path, default=[])
    parser.add_argument("--threshold", type=float, default=THRESHOLD)
    parser.add_argument("--cross-validate", action="store_true")
    args = parser.parse_args()
    rows = read(DEV_SET)
    if args.cross_validate:
        cross_validate(rows, args.threshold)
    document = fit(rows, args.threshold)
    OUTPUT.write_text(json.dumps(document, separators=(",", ":")) + "\n", encoding="utf-8")
    model = parse_model(document)
    print(f"wrote {OUTPUT.relative_to(REPO)}: {len(model.index)} features")
    for path in args.check:
        check(model, path)


if __name__ == "__main__":
    main()
