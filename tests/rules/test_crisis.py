"""Crisis detection: the lexicon's own examples, the classic traps, and the value shapes."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from rules.crisis import (
    MODEL_RULE,
    CrisisAssessment,
    Evidence,
    compile_lexicon,
    default_detector,
    detect_crisis,
)
from rules.crisis_anchors import required_literals
from rules.crisis_categories import CATEGORIES, SEVERITIES
from rules.crisis_lexicon import (
    Escalator,
    LexiconError,
    Rule,
    Suppression,
    compiled_pattern,
    load_lexicon,
    parse_lexicon,
)
from rules.crisis_model import default_model
from rules.text import fold

DEV_SET = Path(__file__).resolve().parent.parent / "data" / "crisis_dev_set.tsv"
LEXICON = load_lexicon()
DETECTOR = default_detector()


def _fired(text: str, *, suppress: bool = True) -> set[str]:
    return {rule.id for rule, _, _ in DETECTOR.hits(fold(text), suppress=suppress)}


# --- the lexicon checks itself ---------------------------------------------------------------


@pytest.mark.parametrize("rule", LEXICON.rules, ids=lambda r: r.id)
def test_every_rule_fires_on_its_example(rule: Rule) -> None:
    assert rule.id in _fired(rule.example), f"{rule.id} does not fire on {rule.example!r}"


@pytest.mark.parametrize(
    ("rule", "text"),
    [(r, t) for r in LEXICON.rules for t in r.not_examples],
    ids=lambda v: v.id if isinstance(v, Rule) else "",
)
def test_no_rule_fires_on_its_not_examples(rule: Rule, text: str) -> None:
    assert rule.id not in _fired(text), f"{rule.id} fires on {text!r}"


@pytest.mark.parametrize("suppression", LEXICON.suppressions, ids=lambda s: s.id)
def test_every_suppression_silences_a_rule_on_its_example(suppression: Suppression) -> None:
    scoped = {r.id for r in LEXICON.rules if suppression.applies_to(r)}
    silenced = _fired(suppression.example, suppress=False) & scoped
    if MODEL_RULE in suppression.rules:
        assert default_model().score(fold(suppression.example)).crisis, "the model is calm"
        assert MODEL_RULE not in detect_crisis(suppression.example).rule_ids, "the model fires"
        silenced.add(MODEL_RULE)
    assert silenced, "nothing to silence"
    assert not _fired(suppression.example) & scoped, "still fires"


@pytest.mark.parametrize("escalator", LEXICON.escalators, ids=lambda e: e.id)
def test_every_escalator_makes_its_example_high(escalator: Escalator) -> None:
    assessment = detect_crisis(escalator.example)
    assert assessment.crisis, f"{escalator.example!r} is no crisis to escalate"
    assert assessment.severity == "high"
    assert escalator.id in assessment.rule_ids


@pytest.mark.parametrize(
    ("escalator", "text"),
    [(e, t) for e in LEXICON.escalators for t in e.not_examples],
    ids=lambda v: v.id if isinstance(v, Escalator) else "",
)
def test_no_escalator_raises_its_not_examples(escalator: Escalator, text: str) -> None:
    assert escalator.id not in detect_crisis(text).rule_ids


def test_escalation_names_its_sign_and_never_finds_a_crisis_alone() -> None:
    assert not detect_crisis("can we talk right now? running late tonight").crisis
    assert detect_crisis("everyone would be better off without me").severity == "medium"
    text = "everyone would be better off without me. I feel it right now"
    assessment = detect_crisis(text)
    assert assessment.severity == "high"
    [sign] = [e for e in assessment.evidence if e.rule_id.startswith("esc-")]
    assert text[sign.start : sign.end] == "right now"


def test_rule_ids_are_prefixed_by_their_category() -> None:
    prefixes = {
        "suicidal_ideation": ("si-",),
        "suicide_plan": ("sp-",),
        "self_harm": ("sh-",),
        "overdose_medical": ("od-", "md-"),
        "harm_to_others": ("ho-",),
        "abuse_danger": ("ab-",),
        "crisis_general": ("cg-",),
    }
    for rule in LEXICON.rules:
        assert rule.id.startswith(prefixes[rule.category]), rule.id
        assert rule.severity in SEVERITIES


def test_every_category_has_rules() -> None:
    assert {rule.category for rule in LEXICON.rules} == set(CATEGORIES)


def test_every_rule_is_indexed_by_the_gate() -> None:
    # A rule without anchors would run on every message and make cost grow with the lexicon.
    assert DETECTOR.always == ()
    for rule in LEXICON.rules:
        literals = required_literals(rule.compiled)
        context = required_literals(rule.context) if rule.context else None
        assert literals or context, rule.id


def test_the_gate_never_hides_a_rule_that_would_fire() -> None:
    # The gate runs only rules whose anchors occur; running every rule must find nothing more.
    texts = DEV_SET.read_text(encoding="utf-8").splitlines()[1:]
    for line in texts:
        folded = fold(line.split("\t")[2])
        gated = {(r.id, s, e) for r, s, e in DETECTOR.hits(folded, suppress=False)}
        everything = {
            (rule.id, *m.span())
            for rule in LEXICON.rules
            if rule.context is None or compiled_pattern(rule.context).search(folded)
            for m in compiled_pattern(rule.compiled).finditer(folded)
            if m.end() > m.start()
        }
        assert gated == everything, line


# --- behaviour -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "category"),
    [
        ("i want to die", "suicidal_ideation"),
        ("I wish I wasn't here", "suicidal_ideation"),
        ("everyone would be better off without me", "suicidal_ideation"),
        ("i dont want to wake up", "suicidal_ideation"),
        ("i want to kill myself", "suicidal_ideation"),
        ("kms", "suicidal_ideation"),
        ("i should just kys", "suicidal_ideation"),
        ("thinking about unaliving myself", "suicidal_ideation"),
        ("sewerslide is on my mind", "suicidal_ideation"),
        ("i want to ctb", "suicidal_ideation"),
        ("i want to self-delete", "suicidal_ideation"),
        ("gonna game end", "suicidal_ideation"),
        ("im going to off myself", "suicidal_ideation"),
        ("i just want to end it all", "suicidal_ideation"),
        ("i just want to not be here anymore", "suicidal_ideation"),
        ("su1cide", "suicidal_ideation"),
        ("suicid", "suicidal_ideation"),
        ("sucide", "suicidal_ideation"),
        ("suiside", "suicidal_ideation"),
        ("i want to k1ll myself", "suicidal_ideation"),
        ("i want to kil mysef", "suicidal_ideation"),
        ("i want to killlll myselfffff", "suicidal_ideation"),
        ("I\u2019m going to kill myself", "suicide_plan"),
        ("been stockpiling pills", "suicide_plan"),
        ("the gun is in my lap", "suicide_plan"),
        ("i bought a rope", "suicide_plan"),
        ("standing on the roof", "suicide_plan"),
        ("going to jump off the bridge", "suicide_plan"),
        ("i'm doing it tonight after everyone's asleep", "suicide_plan"),
        ("goodbye everyone", "suicide_plan"),
        ("this is my last text", "suicide_plan"),
        ("giving away my things", "suicide_plan"),
        ("wrote a note for my mom", "suicide_plan"),
        ("i cut myself", "self_harm"),
        ("burning myself again", "self_harm"),
        ("i relapsed", "self_harm"),
        ("i keep hurting myself", "self_harm"),
        ("sh urges", "self_harm"),
        ("took 30 tylenol", "overdose_medical"),
        ("swallowed a whole bottle of advil", "overdose_medical"),
        ("downed all my meds", "overdose_medical"),
        ("ate like 20 xanax", "overdose_medical"),
        ("took 4000mg of excedrin", "overdose_medical"),
        ("took 15 benadryl", "overdose_medical"),
        ("took a bunch of sleeping pills", "overdose_medical"),
        ("\U0001f48a\U0001f48a\U0001f48a goodbye", "overdose_medical"),
        ("i cant breathe", "overdose_medical"),
        ("chest pain", "overdose_medical"),
        ("i passed out", "overdose_medical"),
        ("bleeding a lot", "overdose_medical"),
        ("i want to kill him", "harm_to_others"),
        ("going to hurt someone", "harm_to_others"),
        ("bring a gun to school", "harm_to_others"),
        ("he hit me", "abuse_danger"),
        ("he's choking me", "abuse_danger"),
        ("he locked me in", "abuse_danger"),
        ("someone is following me", "abuse_danger"),
        ("im trapped", "abuse_danger"),
        ("someone is breaking in", "abuse_danger"),
        ("not safe at home", "abuse_danger"),
        ("i was raped", "abuse_danger"),
        ("I'm in crisis", "crisis_general"),
        ("im not safe", "crisis_general"),
        ("i can't go on", "crisis_general"),
        ("having a breakdown", "crisis_general"),
        ("need help now", "crisis_general"),
        ("emergency", "crisis_general"),
    ],
)
def test_the_issue_examples_fire_in_their_category(text: str, category: str) -> None:
    assessment = detect_crisis(text)
    assert assessment.crisis, text
    assert category in assessment.categories, (text, assessment.categories)


@pytest.mark.parametrize(
    "text",
    [
        "this traffic is killing me",
        "I'm dying to tell you",
        "my phone died",
        "you killed it",
        "I could kill for a coffee",
        "dead tired",
        "I'm dead \U0001f602",
        "killing time before my appointment",
        "we had a suicide prevention class",
        "watched a documentary about suicide",
        "my essay on self harm awareness",
        "took two ibuprofen for my headache",
        "can I get a refill of my sertraline",
        "took my meds this morning",
        "thanks for everything, see you next week",
        "bye for now",
        "I had a family emergency, can we reschedule?",
        "I can't go on Thursday, can we do Friday?",
        "i'll catch the bus to your office",
        "my nose is stuffy",
        "that's odd",
        "I took 5 mg of melatonin last night",
    ],
)
def test_idioms_topics_and_ordinary_medication_talk_are_not_a_crisis(text: str) -> None:
    assessment = detect_crisis(text)
    assert not assessment.crisis, (text, assessment.reason)


@pytest.mark.parametrize(
    "text",
    [
        "watched a documentary about suicide and now I want to kill myself",
        "this traffic is killing me and honestly I want to die",
        "took two ibuprofen for my headache, then I took 30 more",
        "thanks for everything, see you next week. goodbye forever",
        "I had a family emergency. he hit me and I'm not safe at home",
    ],
)
def test_a_strong_signal_fires_even_next_to_a_suppressed_phrase(text: str) -> None:
    assert detect_crisis(text).crisis, text


@pytest.mark.parametrize(
    "text",
    ["I'm not going to hurt myself", "im not suicidal", "I'm not going to kill myself, promise"],
)
def test_negated_statements_are_still_flagged_because_recall_wins(text: str) -> None:
    assert detect_crisis(text).crisis


def test_assessment_carries_rule_ids_and_offsets_into_the_original_text() -> None:
    text = "Honestly?? I want to killll myselfff \u2639 tonight"
    assessment = detect_crisis(text)
    assert assessment.crisis
    assert assessment.severity == "high"
    assert assessment.categories[0] == "suicide_plan"
    spans = {e.rule_id: text[e.start : e.end] for e in assessment.evidence}
    assert spans["si-kill-myself"] == "killll myselfff"
    assert spans["sp-timing"] == "tonight"
    for evidence in assessment.evidence:
        assert isinstance(evidence, Evidence)
        assert not hasattr(evidence, "text")


def test_reason_names_categories_severity_and_rules_but_no_content() -> None:
    assessment = detect_crisis("I'm going to kill myself tonight")
    assert assessment.reason.startswith("crisis: suicide_plan, suicidal_ideation (high) by rules ")
    assert "sp-" in assessment.reason
    assert "kill myself" not in assessment.reason
    assert detect_crisis("see you tuesday").reason == "no crisis language found"


def test_no_crisis_is_an_empty_assessment() -> None:
    assert detect_crisis("Can we move Tuesday to 3pm?") == CrisisAssessment(
        crisis=False, categories=(), severity=None, evidence=()
    )
    assert not detect_crisis("").crisis


def test_values_are_frozen() -> None:
    assessment = detect_crisis("i want to die")
    with pytest.raises(AttributeError):
        assessment.crisis = False  # type: ignore[misc]


def test_detection_is_fast() -> None:
    messages = ["Running 10 minutes late, sorry!", "i took 30 tylenol", "Can I get a superbill?"]
    messages = messages * 700
    started = time.perf_counter()
    for message in messages:
        detect_crisis(message)
    per_second = len(messages) / (time.perf_counter() - started)
    assert per_second > 2000


# --- the lexicon format ----------------------------------------------------------------------


def _document(**rule: object) -> dict[str, object]:
    base: dict[str, object] = {
        "id": "si-test",
        "category": "suicidal_ideation",
        "severity": "medium",
        "pattern": r"\bwant to die\b",
        "example": "i want to die",
    }
    base.update(rule)
    return {"rule": [base]}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"category": "sadness"}, "category must be one of"),
        ({"severity": "urgent"}, "severity must be one of"),
        ({"pattern": "(unclosed"}, "does not compile"),
        ({"pattern": "{nope} die"}, "unknown macro"),
        ({"pattern": "(?P<name>die)"}, "unsupported group"),
        ({"id": "Bad Id"}, "ids are unique"),
        ({"example": ""}, "'example' must be a non-empty string"),
    ],
)
def test_malformed_lexicon_entries_are_refused_with_a_reason(
    change: dict[str, object], message: str
) -> None:
    with pytest.raises(LexiconError, match=message):
        parse_lexicon(_document(**change))


def test_macros_expand_and_literals_fold_like_messages() -> None:
    lexicon = parse_lexicon(
        {"macros": {"me": "my ?self|mysef"}, **_document(pattern=r"\bkill {me}\b")}
    )
    assert lexicon.rules[0].compiled == r"\bkil (?:my ?self|mysef)\b"


def test_a_rule_without_literal_text_is_refused_when_anchors_are_required() -> None:
    lexicon = parse_lexicon(_document(pattern=r"\b\w+\b", example="anything"))
    with pytest.raises(LexiconError, match="no literal text"):
        compile_lexicon(lexicon, require_anchors=True)
    assert compile_lexicon(lexicon).always == (0,)


@pytest.mark.parametrize(
    ("pattern", "anchors"),
    [
        (r"\bkil myself\b", {"kil myself"}),
        (r"\b(?:want|wana) to die\b", {"want to die", "wana to die"}),
        (r"\bsuicid(?:e|al)?\b", {"suicid", "suicide", "suicidal"}),
        (r"\b(?:i|im) \w+ dead\b", {" dead"}),
        (r"\bcut(?=s)", {"cut"}),
        (r"\b\w+\b", None),
    ],
)
def test_required_literals(pattern: str, anchors: set[str] | None) -> None:
    found = required_literals(pattern)
    assert (set(found) if found else None) == anchors
