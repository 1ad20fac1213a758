"""The crisis model: its features, its file, and how it joins the lexicon's assessment."""

from __future__ import annotations

import json
import random
import string
from importlib import resources
from typing import Any

import pytest

from rules.crisis import (
    MODEL_RULE,
    CrisisAssessment,
    Evidence,
    compile_lexicon,
    detect_crisis,
    with_model,
)
from rules.crisis_categories import CATEGORIES
from rules.crisis_lexicon import parse_lexicon
from rules.crisis_model import MODEL_FILE, CrisisModel, ModelError, features, parse_model

CALM = CrisisAssessment(crisis=False, categories=(), severity=None, evidence=())


def _document(**change: Any) -> dict[str, Any]:
    """A model of four words: "kite" is a crisis, and a self-harm one; "a", "red" and "day"
    weigh nothing."""
    document: dict[str, Any] = {
        "format": 1,
        "features": ["w:kite", "w:a", "w:red", "w:day"],
        "idf": [1.0, 1.0, 1.0, 1.0],
        "crisis": {
            "weights": [10.0, 0.0, 0.0, 0.0],
            "bias": -5.0,
            "threshold": 0.5,
            "min_words": 1,
        },
        "category": {
            "names": ["suicidal_ideation", "self_harm"],
            "weights": [[0.0, 0.0, 0.0, 0.0], [1.0, 0.0, 0.0, 0.0]],
            "biases": [0.0, 0.0],
        },
    }
    for key, value in change.items():
        table, _, field = key.partition("__")
        if field:
            document[table][field] = value
        else:
            document[table] = value
    return document


def _kite_model() -> CrisisModel:
    return parse_model(_document())


def test_features_are_words_word_pairs_and_pieces_of_words() -> None:
    counted = features("i am ok")
    assert counted["w:am"] == 1
    assert counted["b:i am"] == 1
    assert counted["c: am "] == 1
    assert counted["c: ok"] == 1
    assert counted["c:ok "] == 1


def test_emoji_count_as_words_and_repeats_are_counted() -> None:
    counted = features("💊💊 ok ok")
    assert counted["w:💊"] == 2
    assert counted["w:ok"] == 2
    assert counted["b:💊 💊"] == 1


def test_a_message_with_no_weighty_feature_scores_the_bias_alone() -> None:
    score = _kite_model().score("a red day")
    assert score.probability == pytest.approx(1 / (1 + 2.718281828459045**5))
    assert score.category is None
    assert not score.crisis


def test_messages_shorter_than_the_models_minimum_are_left_to_the_lexicon() -> None:
    model = parse_model(_document(crisis__min_words=3))
    assert model.score("a kite").category is None
    assert model.score("a red kite").category == "self_harm"


def test_too_few_words_the_model_knows_are_left_to_the_lexicon() -> None:
    """Codes and keyboard noise: the model would judge them on stray pieces of words."""
    model = _kite_model()
    assert model.score("kite zq9x xv7k qq3 vvb1").category is None
    assert model.score("a kite zq9x xv7k red").category == "self_harm"


def test_a_known_feature_can_decide_crisis_and_category() -> None:
    score = _kite_model().score("a red kite")
    assert score.crisis
    assert score.category == "self_harm"


def test_the_model_speaks_only_where_the_lexicon_found_nothing() -> None:
    model = _kite_model()
    lexicon_hit = CrisisAssessment(
        crisis=True,
        categories=("suicide_plan",),
        severity="high",
        evidence=(Evidence("sp-rule", "suicide_plan", "high", 0, 4),),
    )
    assert with_model(lexicon_hit, "kite", model) is lexicon_hit
    assert with_model(CALM, "a quiet day", model) is CALM


def test_a_model_hit_names_the_model_and_covers_the_message_without_its_words() -> None:
    assessment = with_model(CALM, "A red KITE", _kite_model())
    assert assessment.crisis
    assert assessment.categories == ("self_harm",)
    assert assessment.severity == "medium"
    assert assessment.evidence == (Evidence(MODEL_RULE, "self_harm", "medium", 0, 10),)
    assert "kite" not in assessment.reason.lower()
    assert MODEL_RULE in assessment.reason


def test_a_suppression_naming_the_model_silences_it_anywhere_in_the_message() -> None:
    detector = compile_lexicon(
        parse_lexicon(
            {
                "suppress": [
                    {
                        "id": "sx-kite-festival",
                        "rules": [MODEL_RULE],
                        "pattern": r"\bfestival\b",
                        "example": "a red kite at the festival",
                    }
                ]
            }
        )
    )
    model = _kite_model()
    assert with_model(CALM, "a red kite at the festival", model, detector) is CALM
    assert with_model(CALM, "the festival: a red kite", model, detector) is CALM
    assert with_model(CALM, "a red kite", model, detector).crisis


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"format": 2}, "format"),
        ({"features": "w:kite"}, "features must be a list"),
        ({"idf": [1.0, 2.0]}, "counts differ"),
        ({"idf": ["x"]}, "idf must be numbers"),
        ({"crisis__weights": [True]}, "crisis weights must be numbers"),
        ({"crisis__bias": None}, "crisis bias must be numbers"),
        ({"crisis__threshold": 1.0}, "threshold"),
        ({"crisis__min_words": 0}, "min_words"),
        ({"crisis__min_words": 2.5}, "min_words"),
        ({"category": []}, "category must be a table"),
        ({"category__names": []}, "categories and their weights differ"),
        ({"category__biases": [0.0]}, "categories and their weights differ"),
        ({"category__weights": [[0.0], [1.0, 2.0]]}, "counts differ"),
    ],
)
def test_malformed_models_are_refused_with_a_reason(change: dict[str, Any], problem: str) -> None:
    with pytest.raises(ModelError, match=problem):
        parse_model(_document(**change))


def test_the_packaged_model_is_well_formed_and_small() -> None:
    source = resources.files("rules").joinpath("data", MODEL_FILE).read_text(encoding="utf-8")
    model = parse_model(json.loads(source))
    assert 1000 <= len(model.index) <= 20000
    assert set(model.categories) <= set(CATEGORIES)


@pytest.mark.parametrize(
    "text",
    [
        "Can we move my appointment to Thursday at 3?",
        "Running 10 min late, sorry!",
        "Did my insurance payment go through?",
        "Thanks for today, see you next week",
        "ok",
        "",
        "me again",
        "hey",
        "note 3",
        "hey its me again, are you there?",
        "merry christmas eve to you all",
        # What scripts and load tests send: ids, codes, noise.
        "o6D6754 fwd 20 body-o6D6754-20",
        "Z8U DzV8fUkki jL5 ZPjN0MEQ7 jJJibaZ HV7 B3m03",
        "msg 3f2a9c41 seq 42 run b7e1 node 7",
    ],
)
def test_ordinary_messages_stay_calm_with_the_model(text: str) -> None:
    assert not detect_crisis(text).crisis


@pytest.mark.parametrize(
    "text",
    [
        "i've been putting my affairs in order and wrote letters to everyone",
        "everything feels pointless and i keep thinking everyone would be fine without me",
    ],
)
def test_the_packaged_model_and_lexicon_together_catch_plain_crises(text: str) -> None:
    assert detect_crisis(text).crisis


def test_strings_of_codes_and_noise_do_not_read_as_crises() -> None:
    """Ids, hashes and keyboard noise carry pieces of words that happen to weigh; before the
    model needed words of its own vocabulary, one such string in six read as a crisis."""
    rng = random.Random(20261128)
    alphabet = string.ascii_letters + string.digits

    def code() -> str:
        return "".join(rng.choice(alphabet) for _ in range(rng.randint(3, 9)))

    noise = [" ".join(code() for _ in range(rng.randint(5, 12))) for _ in range(300)]
    noise += [f"{code()} fwd {n} body-{code()}-{n}" for n in range(100)]
    assert [text for text in noise if detect_crisis(text).crisis] == []
