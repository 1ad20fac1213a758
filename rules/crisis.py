"""Crisis detection in short messages: the assessment, and the lexicon compiled for speed.

The lexicon (`rules.crisis_lexicon`) is data a clinician can read: rules with a category and a
severity, and suppressions for known false alarms.

Speed without a loop over every rule: when the lexicon is compiled, each rule's pattern is read
for the literal text any match must contain (its anchors, `rules.crisis_anchors`). All anchors
of all rules form one trie-shaped regular expression, the gate. A message is scanned by the
gate once; only the rules whose anchors occur in it run. Ordinary messages wake few or no rules,
so the cost per message depends on what the message says, not on how many rules the lexicon
holds.

Evidence carries rule ids and character offsets into the original text, never the text itself,
so it can be stored in audit logs.

Where the lexicon finds nothing, a linear model (`rules.crisis_model`) reads the message as a
second net for phrasings no rule spells out; its hits name the model instead of a rule.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from functools import cache
from typing import Final

from rules.crisis_categories import CATEGORIES, SEVERITIES
from rules.crisis_lexicon import (
    MODEL_RULE,
    Escalator,
    Lexicon,
    LexiconError,
    Rule,
    Suppression,
    compiled_pattern,
)
from rules.crisis_lexicon_cache import anchors_of, packaged_lexicon
from rules.crisis_model import CrisisModel, default_model
from rules.text import fold, normalize

__all__ = [
    "CATEGORIES",
    "MODEL_RULE",
    "SEVERITIES",
    "CrisisAssessment",
    "Detector",
    "Evidence",
    "compile_lexicon",
    "default_detector",
    "detect_crisis",
]

_RANK = {"high": 3, "medium": 2, "low": 1}


@dataclass(frozen=True, slots=True)
class Evidence:
    """One rule that fired, and where: offsets into the original text, end exclusive."""

    rule_id: str
    category: str
    severity: str
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class CrisisAssessment:
    """What the detector found. Categories are ordered most severe first."""

    crisis: bool
    categories: tuple[str, ...]
    severity: str | None
    evidence: tuple[Evidence, ...]

    @property
    def rule_ids(self) -> tuple[str, ...]:
        """The ids of the rules that fired, most severe first, each once."""
        ordered = sorted(self.evidence, key=lambda e: (-_RANK[e.severity], e.start))
        return tuple(dict.fromkeys(e.rule_id for e in ordered))

    @property
    def reason(self) -> str:
        """A short explanation without any of the message's content."""
        if not self.crisis:
            return "no crisis language found"
        ids = self.rule_ids
        noun = "rule" if len(ids) == 1 else "rules"
        return f"crisis: {', '.join(self.categories)} ({self.severity}) by {noun} {', '.join(ids)}"


_CALM = CrisisAssessment(crisis=False, categories=(), severity=None, evidence=())


# --- the compiled detector ------------------------------------------------------------------


_Trie = dict[str, "_Trie"]


def _trie_regex(words: Iterable[str]) -> str:
    """One regex matching any of `words`, longest first, branching on one character at a time.

    A plain alternation of hundreds of words makes the regex engine try each word at each
    position; the trie shape makes each position cost one step per character matched.
    """
    root: _Trie = {}
    for word in words:
        node = root
        for char in word:
            node = node.setdefault(char, {})
        node[""] = {}  # marks the end of a word

    def emit(node: _Trie) -> str:
        ends_here = "" in node
        branches = [re.escape(char) + emit(child) for char, child in sorted(node.items()) if char]
        if not branches:
            return ""
        body = branches[0] if len(branches) == 1 else f"(?:{'|'.join(branches)})"
        if ends_here:
            return f"(?:{body})?"
        return body

    return emit(root)


@dataclass(frozen=True, slots=True)
class _IndexedRule:
    """A rule and the suppressions that apply to it. Patterns are compiled when first used
    (`compiled_pattern` remembers them): compiling all of them takes seconds, and most
    messages need a few."""

    rule: Rule
    suppressions: tuple[Suppression, ...]


@dataclass(frozen=True, slots=True)
class Detector:
    """A compiled lexicon. Build one with `compile_lexicon`; it is safe to share."""

    lexicon: Lexicon
    rules: tuple[_IndexedRule, ...]
    gate: re.Pattern[str] | None
    by_anchor: Mapping[str, tuple[int, ...]]
    always: tuple[int, ...]
    escalators: tuple[Escalator, ...] = ()
    model_suppressions: tuple[Suppression, ...] = ()

    def compile_all(self) -> None:
        """Compile every pattern now, so that no message waits for one (`gateway serve` does
        this beside its first requests)."""
        lexicon = self.lexicon
        for rule in lexicon.rules:
            compiled_pattern(rule.compiled)
            if rule.context:
                compiled_pattern(rule.context)
        for suppression in lexicon.suppressions:
            compiled_pattern(suppression.compiled)
        for escalator in lexicon.escalators:
            compiled_pattern(escalator.compiled)

    def detect(self, text: str) -> CrisisAssessment:
        folded = fold(text)
        hits = self.hits(folded)
        if not hits:
            return _CALM
        normalized = normalize(text)
        evidence = sorted(
            {
                Evidence(rule.id, rule.category, rule.severity, *normalized.span(start, end))
                for rule, start, end in hits
            },
            key=lambda e: (e.start, e.end, e.rule_id),
        )
        worst: dict[str, int] = {}
        for e in evidence:
            worst[e.category] = max(worst.get(e.category, 0), _RANK[e.severity])
        categories = sorted(worst, key=lambda c: (-worst[c], CATEGORIES.index(c)))
        top = max(worst.values())
        severity = next(s for s in SEVERITIES if _RANK[s] == top)
        found = CrisisAssessment(
            crisis=True, categories=tuple(categories), severity=severity, evidence=tuple(evidence)
        )
        return self.escalate(found, text)

    def escalate(self, assessment: CrisisAssessment, text: str) -> CrisisAssessment:
        """A crisis told with a sign of danger now (a time, means at hand, something in
        progress, a decision) is of high severity, whichever net found it; the sign is named
        in the evidence."""
        if not assessment.crisis or assessment.severity == "high":
            return assessment
        folded = fold(text)
        for escalator in self.escalators:
            match = compiled_pattern(escalator.compiled).search(folded)
            if match is not None:
                start, end = normalize(text).span(*match.span())
                sign = Evidence(escalator.id, assessment.categories[0], "high", start, end)
                return replace(assessment, severity="high", evidence=(*assessment.evidence, sign))
        return assessment

    def silences_model(self, folded: str) -> bool:
        """A suppression naming the model matches somewhere in the folded text."""
        return any(compiled_pattern(s.compiled).search(folded) for s in self.model_suppressions)

    def candidates(self, folded: str) -> set[int]:
        """Indexes of the rules whose anchors occur in the folded text."""
        found = set(self.always)
        gate = self.gate
        if gate is None:
            return found
        by_anchor = self.by_anchor
        search = gate.search
        match = search(folded)
        while match is not None:
            found.update(by_anchor[match.group()])
            match = search(folded, match.start() + 1)
        return found

    def hits(self, folded: str, *, suppress: bool = True) -> list[tuple[Rule, int, int]]:
        """Every (rule, start, end) that fires on folded text, in folded offsets."""
        found: list[tuple[Rule, int, int]] = []
        overlaps: dict[str, list[tuple[int, int]]] = {}
        anywhere: dict[str, bool] = {}
        for index in sorted(self.candidates(folded)):
            indexed = self.rules[index]
            rule = indexed.rule
            matches = compiled_pattern(rule.compiled).finditer(folded)
            spans = [m.span() for m in matches if m.end() > m.start()]
            if not spans:
                continue
            if rule.context and compiled_pattern(rule.context).search(folded) is None:
                continue
            for start, end in spans:
                if suppress and _silenced(
                    indexed,
                    start=start,
                    end=end,
                    folded=folded,
                    overlaps=overlaps,
                    anywhere=anywhere,
                ):
                    continue
                found.append((rule, start, end))
        return found


def _silenced(
    indexed: _IndexedRule,
    *,
    start: int,
    end: int,
    folded: str,
    overlaps: dict[str, list[tuple[int, int]]],
    anywhere: dict[str, bool],
) -> bool:
    for suppression in indexed.suppressions:
        pattern = compiled_pattern(suppression.compiled)
        if suppression.within == "message":
            if suppression.id not in anywhere:
                anywhere[suppression.id] = pattern.search(folded) is not None
            if anywhere[suppression.id]:
                return True
            continue
        if suppression.id not in overlaps:
            overlaps[suppression.id] = [m.span() for m in pattern.finditer(folded)]
        if any(s < end and start < e for s, e in overlaps[suppression.id]):
            return True
    return False


# The gate holds each anchor's first characters only: what the text must contain also holds
# its beginning. Whole anchors (40,000, 675,000 characters) made a gate that took two seconds
# to compile at every start; ten characters select nearly as few rules (10 a message on the
# development set against 8, 5% more time a message) and compile in under a second.
GATE_PREFIX: Final = 10


def compile_lexicon(
    lexicon: Lexicon,
    *,
    require_anchors: bool = False,
    rule_anchors: Mapping[str, frozenset[str] | None] | None = None,
) -> Detector:
    """Index every rule and build the gate over all rules' anchors (`rule_anchors`, by rule
    id, where they were worked out before).

    With `require_anchors`, a rule without a required literal is an error (it would run on
    every message); otherwise such rules are kept and always run.
    """
    indexed: list[_IndexedRule] = []
    anchors: dict[str, set[int]] = {}
    always: list[int] = []
    for index, rule in enumerate(lexicon.rules):
        scoped = tuple(s for s in lexicon.suppressions if s.applies_to(rule))
        indexed.append(_IndexedRule(rule=rule, suppressions=scoped))
        literals = (
            rule_anchors[rule.id]
            if rule_anchors is not None and rule.id in rule_anchors
            else anchors_of(rule)
        )
        if not literals:
            if require_anchors:
                raise LexiconError(
                    f"rule {rule.id}: the pattern has no literal text every match must contain"
                )
            always.append(index)
            continue
        for literal in literals:
            anchors.setdefault(literal[:GATE_PREFIX], set()).add(index)
    # The gate reports the longest anchor starting at a position; every shorter anchor that
    # starts there is a prefix of it, so its rules are added to the longer anchor's.
    by_anchor: dict[str, tuple[int, ...]] = {}
    for anchor in anchors:
        indexes: set[int] = set()
        for length in range(1, len(anchor) + 1):
            indexes |= anchors.get(anchor[:length], set())
        by_anchor[anchor] = tuple(sorted(indexes))
    gate = re.compile(_trie_regex(by_anchor)) if by_anchor else None
    return Detector(
        lexicon=lexicon,
        rules=tuple(indexed),
        gate=gate,
        by_anchor=by_anchor,
        always=tuple(always),
        escalators=lexicon.escalators,
        model_suppressions=tuple(s for s in lexicon.suppressions if MODEL_RULE in s.rules),
    )


@cache
def default_detector() -> Detector:
    """The packaged lexicon, indexed once per process."""
    packaged = packaged_lexicon()
    return compile_lexicon(packaged.lexicon, require_anchors=True, rule_anchors=packaged.anchors)


def detect_lexicon(text: str) -> CrisisAssessment:
    """Assess one message with the packaged lexicon alone."""
    return default_detector().detect(text)


# The severity of a crisis that the model, not a lexicon rule, found.
MODEL_SEVERITY: Final = "medium"


def with_model(
    assessment: CrisisAssessment,
    text: str,
    model: CrisisModel,
    detector: Detector | None = None,
) -> CrisisAssessment:
    """The lexicon's assessment where it found a crisis; otherwise the model's, unless one of
    the `detector`'s suppressions names the model and matches the message."""
    if assessment.crisis:
        return assessment
    folded = fold(text)
    score = model.score(folded)
    if score.category is None or (detector is not None and detector.silences_model(folded)):
        return assessment
    evidence = Evidence(MODEL_RULE, score.category, MODEL_SEVERITY, 0, len(text))
    return CrisisAssessment(
        crisis=True, categories=(score.category,), severity=MODEL_SEVERITY, evidence=(evidence,)
    )


def detect_crisis(text: str) -> CrisisAssessment:
    """Assess one message: the packaged lexicon, and the model where the lexicon found none."""
    detector = default_detector()
    return detector.escalate(
        with_model(detector.detect(text), text, default_model(), detector), text
    )
