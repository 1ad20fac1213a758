"""A second net under the crisis lexicon: a linear model over words and word pieces.

The lexicon catches what its rules spell out; messages written in words it has not seen get
past it. On batches of messages written without seeing the lexicon it caught 37-87% of their
crises; the model, trained on the development set, caught most of the rest with few false
alarms (bench/README.md has the numbers). It runs only where the lexicon found nothing, and
its hit names the model, never the words that decided it.

The model is data, `data/crisis_model.json`, written by `tools/train_crisis_model.py` from the
development set; this module only reads and applies it, with the same features the trainer
used (`features` below is the one definition of both).
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from itertools import pairwise
from typing import Final

MODEL_FILE: Final = "crisis_model.json"
FORMAT: Final = 1

# Words, and single symbols outside ASCII (emoji carry meaning: a pill, a knot, a coffin).
_TOKEN: Final = re.compile(r"\w+|[^\x00-\x7f\w\s]")
_WORD: Final = re.compile(r"\w+")
_LETTERS: Final = re.compile(r"[^\W\d_]+")
_PIECES: Final = (3, 4, 5)
# The model judges only a message with at least this many words from its own vocabulary.
# Without them it sees only pieces of unknown words: codes, names, keyboard noise ("xK3 fwd
# 20 body-xK3-20") would be judged on a few letter triples that happen to carry weight,
# and one in six such strings read as a crisis. Held-out crises lost to this: none.
MIN_KNOWN_WORDS: Final = 3


def features(folded: str) -> Counter[str]:
    """Counts of a folded message's words (w:), word pairs (b:) and pieces of words (c:)."""
    tokens = _TOKEN.findall(folded)
    counts: Counter[str] = Counter()
    for token in tokens:
        counts["w:" + token] += 1
    for first, second in pairwise(tokens):
        counts["b:" + first + " " + second] += 1
    for word in _WORD.findall(folded):
        padded = f" {word} "
        for size in _PIECES:
            for start in range(len(padded) - size + 1):
                counts["c:" + padded[start : start + size]] += 1
    return counts


def weighted(
    counts: Mapping[str, int], index: Mapping[str, int], idf: Sequence[float]
) -> dict[int, float]:
    """TF-IDF with logarithmic counts over the known features, scaled to unit length."""
    vector: dict[int, float] = {}
    for feature, count in counts.items():
        column = index.get(feature)
        if column is not None:
            vector[column] = (1.0 + math.log(count)) * idf[column]
    norm = math.sqrt(sum(value * value for value in vector.values()))
    if norm:
        for column in vector:
            vector[column] /= norm
    return vector


class ModelError(ValueError):
    """The model file is malformed."""


@dataclass(frozen=True, slots=True)
class ModelScore:
    """How likely the model finds a crisis (0 for a message too short to judge) and, when it
    finds one, its likeliest category."""

    probability: float
    category: str | None

    @property
    def crisis(self) -> bool:
        return self.category is not None


@dataclass(frozen=True, slots=True)
class CrisisModel:
    """Feature f has weight idf[f] and column index[f]; `crisis` scores crisis against
    ordinary, `categories` (one row per category) choose among crisis categories."""

    index: Mapping[str, int]
    idf: tuple[float, ...]
    crisis_weights: tuple[float, ...]
    crisis_bias: float
    categories: tuple[str, ...]
    category_weights: tuple[tuple[float, ...], ...]
    category_biases: tuple[float, ...]
    threshold: float
    # Messages of fewer words (numbers not counted) are left to the lexicon: with a word or
    # two, a single word's weight decides, and "me again" or "note 3" read like the endings
    # of crisis messages.
    min_words: int

    def known_words(self, folded: str) -> int:
        """Whole words of letters it learned: the letter runs inside a code ("y8js2wp1y" holds
        "y" and "js") would count as words and let noise through."""
        index = self.index
        return sum(1 for word in _WORD.findall(folded) if word.isalpha() and "w:" + word in index)

    def vector(self, folded: str) -> dict[int, float]:
        return weighted(features(folded), self.index, self.idf)

    def score(self, folded: str) -> ModelScore:
        words = _LETTERS.findall(folded)
        if len(words) < self.min_words or self.known_words(folded) < MIN_KNOWN_WORDS:
            return ModelScore(0.0, None)
        vector = self.vector(folded)
        margin = self.crisis_bias + _dot(self.crisis_weights, vector)
        probability = 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, margin))))
        if probability < self.threshold:
            return ModelScore(probability, None)
        margins = [
            bias + _dot(weights, vector)
            for weights, bias in zip(self.category_weights, self.category_biases, strict=True)
        ]
        return ModelScore(probability, self.categories[margins.index(max(margins))])


def _dot(weights: tuple[float, ...], vector: dict[int, float]) -> float:
    return sum(weights[column] * value for column, value in vector.items())


def _list(value: object, name: str) -> list[object]:
    if not isinstance(value, list):
        raise ModelError(f"malformed crisis model: {name} must be a list")
    return value


def _table(value: object, name: str) -> Mapping[str, object]:
    if not isinstance(value, dict):
        raise ModelError(f"malformed crisis model: {name} must be a table")
    return value


def _floats(value: object, name: str) -> tuple[float, ...]:
    numbers: list[float] = []
    for item in _list(value, name):
        if isinstance(item, bool) or not isinstance(item, int | float):
            raise ModelError(f"malformed crisis model: {name} must be numbers")
        numbers.append(float(item))
    return tuple(numbers)


def parse_model(document: Mapping[str, object]) -> CrisisModel:
    """A model from its JSON document; a malformed one raises ModelError saying what is wrong."""
    if document.get("format") != FORMAT:
        raise ModelError(f"unknown crisis model format {document.get('format')!r}")
    crisis = _table(document.get("crisis"), "crisis")
    category = _table(document.get("category"), "category")
    names = [str(name) for name in _list(document.get("features"), "features")]
    (bias,) = _floats([crisis.get("bias")], "crisis bias")
    (threshold,) = _floats([crisis.get("threshold")], "threshold")
    min_words = crisis.get("min_words")
    if isinstance(min_words, bool) or not isinstance(min_words, int) or min_words < 1:
        raise ModelError("malformed crisis model: min_words must be a positive whole number")
    model = CrisisModel(
        index={name: column for column, name in enumerate(names)},
        idf=_floats(document.get("idf"), "idf"),
        crisis_weights=_floats(crisis.get("weights"), "crisis weights"),
        crisis_bias=bias,
        categories=tuple(str(name) for name in _list(category.get("names"), "category names")),
        category_weights=tuple(
            _floats(row, "category weights") for row in _list(category.get("weights"), "weights")
        ),
        category_biases=_floats(category.get("biases"), "category biases"),
        threshold=threshold,
        min_words=min_words,
    )
    width = len(names)
    if len(model.index) != width or any(
        len(row) != width for row in (model.idf, model.crisis_weights, *model.category_weights)
    ):
        raise ModelError("malformed crisis model: feature, idf and weight counts differ")
    count = len(model.categories)
    if not count or len(model.category_weights) != count or len(model.category_biases) != count:
        raise ModelError("malformed crisis model: categories and their weights differ")
    if not 0.0 < threshold < 1.0:
        raise ModelError("malformed crisis model: threshold must lie between 0 and 1")
    return model


@cache
def default_model() -> CrisisModel:
    """The packaged model, read once per process."""
    source = resources.files("rules").joinpath("data", MODEL_FILE).read_text(encoding="utf-8")
    return parse_model(json.loads(source))
