"""Crisis detection in short messages: a clinician-readable lexicon compiled for speed.

The lexicon (`rules/data/crisis_lexicon.toml`) is data: each rule is a regular expression over
normalised text (`rules.text`) with a category, a severity and an example it must fire on;
suppressions scope known false alarms (idioms, topic mentions) to rules or categories, so a
strong signal elsewhere in the same message still fires.

Speed without a loop over every rule: when the lexicon is compiled, each rule's pattern is read
for the literal text any match must contain (its anchors: "kill myself" needs "kil myself";
`(?:want|wanna) to die` needs "want to die" or "wana to die"). All anchors of all rules form one
trie-shaped regular expression, the gate. A message is scanned by the gate once; only the rules
whose anchors occur in it run. Ordinary messages wake few or no rules, so the cost per message
depends on what the message says, not on how many rules the lexicon holds.

Evidence carries rule ids and character offsets into the original text, never the text itself,
so it can be stored in audit logs.

Where the lexicon finds nothing, a linear model (`rules.crisis_model`) reads the message as a
second net for phrasings no rule spells out; its hits name the model instead of a rule.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Final, Literal

from rules.crisis_model import CrisisModel, default_model
from rules.text import fold, normalize

__all__ = [
    "CATEGORIES",
    "SEVERITIES",
    "CrisisAssessment",
    "Detector",
    "Evidence",
    "Lexicon",
    "LexiconError",
    "Rule",
    "Suppression",
    "compile_lexicon",
    "default_detector",
    "detect_crisis",
    "fold_pattern",
    "load_lexicon",
    "parse_lexicon",
    "required_literals",
]

CATEGORIES = (
    "suicidal_ideation",
    "suicide_plan",
    "self_harm",
    "overdose_medical",
    "harm_to_others",
    "abuse_danger",
    "crisis_general",
)
SEVERITIES = ("high", "medium", "low")
_RANK = {"high": 3, "medium": 2, "low": 1}

LEXICON_FILE = "crisis_lexicon.toml"


class LexiconError(ValueError):
    """The lexicon is malformed; the message names the entry and what is wrong."""


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


@dataclass(frozen=True, slots=True)
class Rule:
    """One lexicon entry; `pattern` is as written, `compiled` after macros and folding."""

    id: str
    category: str
    severity: str
    pattern: str
    compiled: str
    example: str
    not_examples: tuple[str, ...] = ()
    context: str | None = None
    note: str = ""


@dataclass(frozen=True, slots=True)
class Suppression:
    """A known false alarm: silences hits of the scoped rules or categories.

    `within = "match"`: the suppression's own match must overlap the hit (an idiom around the
    trigger word). `within = "message"`: a match anywhere in the message silences the hit (a
    context such as "goodwill" for "giving away my clothes"); use it for narrow rules only.
    """

    id: str
    pattern: str
    compiled: str
    rules: frozenset[str]
    categories: frozenset[str]
    within: Literal["match", "message"]
    example: str
    note: str = ""

    def applies_to(self, rule: Rule) -> bool:
        return rule.id in self.rules or rule.category in self.categories


@dataclass(frozen=True, slots=True)
class Lexicon:
    rules: tuple[Rule, ...]
    suppressions: tuple[Suppression, ...]
    macros: Mapping[str, str] = field(default_factory=dict)


# --- reading the lexicon --------------------------------------------------------------------

_MACRO = re.compile(r"\{([a-z_][a-z0-9_]*)\}")
_ID = re.compile(r"[a-z][a-z0-9]*(?:-[a-z0-9]+)*")


def _expand(source: str, macros: Mapping[str, str], where: str) -> str:
    for _ in range(10):
        if not _MACRO.search(source):
            return source

        def one(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in macros:
                raise LexiconError(f"{where}: unknown macro {{{name}}}")
            return f"(?:{macros[name]})"

        source = _MACRO.sub(one, source)
    raise LexiconError(f"{where}: macros nest more than 10 deep (a cycle?)")


_META = set(".^$*+?{}[]\\|()")
_QUANTIFIER = re.compile(r"[?*+]|\{\d*(?:,\d*)?\}")
_GROUP = re.compile(r"\((?:\?(?::|=|!|<=|<!))?(?!\?)")


def fold_pattern(source: str) -> str:
    """Put a pattern's literal text through the same normalisation as messages.

    Literal runs are folded with `rules.text.fold` (lowercase, apostrophes removed, repeated
    letters collapsed, dashes to spaces); escapes, classes, group openers and quantifiers are
    kept as written. A literal directly followed by a quantifier stays as it is, so "cutt?ing"
    keeps its meaning.
    """
    out: list[str] = []
    run: list[str] = []
    i, n = 0, len(source)

    def flush() -> None:
        if run:
            out.append(_escape_literal(fold("".join(run))))
            run.clear()

    while i < n:
        char = source[i]
        if char == "\\":
            flush()
            out.append(source[i : i + 2])
            i += 2
            continue
        if char == "[":
            flush()
            end = _class_end(source, i)
            out.append(source[i:end])
            i = end
            continue
        if char == "(":
            flush()
            opener = _GROUP.match(source, i)
            if opener is None:
                raise LexiconError(
                    f"unsupported group at {source[i : i + 6]!r}: use ( (?: (?= (?! (?<= (?<! only"
                )
            out.append(opener.group())
            i += len(opener.group())
            continue
        if char in _META:
            flush()
            quantifier = _QUANTIFIER.match(source, i)
            if char == "{" and quantifier is None:
                raise LexiconError(f"stray '{{' at {source[i : i + 12]!r}")
            token = quantifier.group() if quantifier else char
            out.append(token)
            i += len(token)
            continue
        if _QUANTIFIER.match(source, i + 1):
            # A quantified literal stands alone: folding it with its neighbours would
            # change what the quantifier applies to.
            flush()
            folded = fold(char)
            out.append(_escape_literal(folded) if len(folded) == 1 else f"(?:{folded})")
            i += 1
            continue
        run.append(char)
        i += 1
    flush()
    return "".join(out)


def _escape_literal(text: str) -> str:
    return "".join("\\" + c if c in _META else c for c in text)


def _class_end(source: str, start: int) -> int:
    i = start + 1
    if i < len(source) and source[i] == "^":
        i += 1
    if i < len(source) and source[i] == "]":
        i += 1
    while i < len(source):
        if source[i] == "\\":
            i += 2
            continue
        if source[i] == "]":
            return i + 1
        i += 1
    raise LexiconError(f"unterminated character class in {source!r}")


def _text(entry: Mapping[str, object], key: str, where: str, *, required: bool = True) -> str:
    value = entry.get(key)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value.strip()):
        raise LexiconError(f"{where}: '{key}' must be a non-empty string")
    return value


def _texts(entry: Mapping[str, object], key: str, where: str) -> tuple[str, ...]:
    value = entry.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise LexiconError(f"{where}: '{key}' must be a list of strings")
    return tuple(str(v) for v in value)


def _compile(source: str, where: str) -> str:
    compiled = fold_pattern(source)
    try:
        re.compile(compiled)
    except re.error as error:
        raise LexiconError(f"{where}: pattern does not compile: {error}") from error
    return compiled


def parse_lexicon(document: Mapping[str, object]) -> Lexicon:
    """Validate a lexicon document (the TOML's tables) and expand its macros."""
    raw_macros = document.get("macros", {})
    if not isinstance(raw_macros, dict) or not all(isinstance(v, str) for v in raw_macros.values()):
        raise LexiconError("[macros] must map names to pattern strings")
    macros = {str(k): str(v) for k, v in raw_macros.items()}

    rules: list[Rule] = []
    seen: set[str] = set()
    for index, entry in enumerate(_entries(document, "rule")):
        where = f"rule #{index + 1}"
        rule_id = _text(entry, "id", where)
        where = f"rule {rule_id}"
        if not _ID.fullmatch(rule_id) or rule_id in seen:
            raise LexiconError(f"{where}: ids are unique, lowercase words joined by '-'")
        seen.add(rule_id)
        category = _text(entry, "category", where)
        if category not in CATEGORIES:
            raise LexiconError(f"{where}: category must be one of {', '.join(CATEGORIES)}")
        severity = _text(entry, "severity", where)
        if severity not in SEVERITIES:
            raise LexiconError(f"{where}: severity must be one of {', '.join(SEVERITIES)}")
        pattern = _text(entry, "pattern", where)
        compiled = _compile(_expand(pattern, macros, where), where)
        context_source = _text(entry, "context", where, required=False)
        context = (
            _compile(_expand(context_source, macros, where), where) if context_source else None
        )
        rules.append(
            Rule(
                id=rule_id,
                category=category,
                severity=severity,
                pattern=pattern,
                compiled=compiled,
                example=_text(entry, "example", where),
                not_examples=_texts(entry, "not_examples", where),
                context=context,
                note=_text(entry, "note", where, required=False),
            )
        )

    suppressions: list[Suppression] = []
    for index, entry in enumerate(_entries(document, "suppress")):
        where = f"suppress #{index + 1}"
        sid = _text(entry, "id", where)
        where = f"suppress {sid}"
        if not _ID.fullmatch(sid) or sid in seen:
            raise LexiconError(f"{where}: ids are unique, lowercase words joined by '-'")
        seen.add(sid)
        scoped_rules = frozenset(_texts(entry, "rules", where))
        scoped_categories = frozenset(_texts(entry, "categories", where))
        unknown = scoped_rules - {r.id for r in rules}
        if unknown:
            raise LexiconError(f"{where}: no such rules: {', '.join(sorted(unknown))}")
        if scoped_categories - set(CATEGORIES):
            raise LexiconError(f"{where}: categories must be among {', '.join(CATEGORIES)}")
        if not scoped_rules and not scoped_categories:
            raise LexiconError(f"{where}: give 'rules' or 'categories' to scope it")
        within = entry.get("within", "match")
        if within not in ("match", "message"):
            raise LexiconError(f"{where}: within is 'match' or 'message'")
        pattern = _text(entry, "pattern", where)
        suppressions.append(
            Suppression(
                id=sid,
                pattern=pattern,
                compiled=_compile(_expand(pattern, macros, where), where),
                rules=scoped_rules,
                categories=scoped_categories,
                within="match" if within == "match" else "message",
                example=_text(entry, "example", where),
                note=_text(entry, "note", where, required=False),
            )
        )
    return Lexicon(rules=tuple(rules), suppressions=tuple(suppressions), macros=macros)


def _entries(document: Mapping[str, object], key: str) -> list[Mapping[str, object]]:
    value = document.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise LexiconError(f"[[{key}]] must be an array of tables")
    return list(value)


def load_lexicon() -> Lexicon:
    """The packaged lexicon."""
    source = resources.files("rules").joinpath("data", LEXICON_FILE).read_text(encoding="utf-8")
    return parse_lexicon(tomllib.loads(source))


# --- anchors: the literal text a pattern's matches must contain -----------------------------

# A pattern's node: (exact, required). `exact` is every string the node can match when that
# set is small and known; `required` is a set of strings one of which every match contains.
# None means unknown or unbounded.
_Info = tuple[frozenset[str] | None, frozenset[str] | None]
_EMPTY: _Info = (frozenset({""}), None)
_ANY: _Info = (None, None)
_EXACT_LIMIT = 64


def _as_required(info: _Info) -> frozenset[str] | None:
    exact, required = info
    if exact is not None:
        if "" in exact or _score(exact)[0] == _NO_ANCHOR:
            return None
        return exact
    return required


# Words in nearly every message make poor anchors: a rule indexed by "with" would run on most
# messages. The gate prefers a rule's rarer literals; these are a last resort.
_COMMON = frozenset(
    {
        "a",
        "an",
        "and",
        "the",
        "to",
        "of",
        "my",
        "me",
        "you",
        "it",
        "in",
        "on",
        "for",
        "is",
        "i",
        "im",
        "that",
        "this",
        "at",
        "but",
        "so",
        "just",
        "be",
        "was",
        "are",
        "have",
        "not",
        "do",
        "get",
        "got",
        "go",
        "can",
        "all",
        "up",
        "out",
        "about",
        "like",
        "if",
        "or",
        "from",
        "as",
        "your",
        "he",
        "she",
        "they",
        "them",
        "him",
        "her",
        "we",
        "our",
        "us",
        "what",
        "when",
        "how",
        "now",
        "one",
        "some",
        "with",
        "day",
        "date",
        "work",
        "home",
        "house",
        "car",
        "bus",
        "od",
        "il",
        "wil",
        "doing",
        "take",
        "eat",
        "down",
        "text",
        "cal",
        "want",
        "wan",
        "ned",
        "hope",
        "tre",
        "sea",
        "wal",
        "run",
        "plan",
        "on my",
        "to my",
        "in my",
        "at my",
        "into my",
        "i got",
        "i have",
        "i tok",
        "set a",
    }
)
_NO_ANCHOR = float("inf")


def _cost(literal: str) -> float:
    """A rough chance that a message contains `literal`: lower makes a better anchor."""
    stripped = literal.strip()
    if not stripped:
        return _NO_ANCHOR  # a space alone is no anchor
    if stripped in _COMMON:
        return 1.0
    # Each further letter makes a match about four times rarer; an emoji or other
    # non-ASCII character counts as three letters.
    length = len(stripped) + 2 * sum(not c.isascii() for c in stripped)
    return float(4.0 ** -(length - 1))


def _score(strings: frozenset[str]) -> tuple[float, int]:
    return sum(_cost(s) for s in strings), len(strings)


def _best(candidates: Iterable[frozenset[str] | None]) -> frozenset[str] | None:
    usable = [c for c in candidates if c and _score(c)[0] < _NO_ANCHOR]
    return min(usable, key=_score) if usable else None


class _Anchors:
    """A small recursive-descent reader of the regex subset the lexicon uses."""

    def __init__(self, source: str) -> None:
        self.s = source
        self.i = 0

    def parse(self) -> _Info:
        info = self.alternation()
        if self.i != len(self.s):
            raise LexiconError(f"unbalanced ')' in {self.s!r}")
        return info

    def alternation(self) -> _Info:
        branches = [self.sequence()]
        while self.i < len(self.s) and self.s[self.i] == "|":
            self.i += 1
            branches.append(self.sequence())
        if len(branches) == 1:
            return branches[0]
        exacts = [b[0] for b in branches]
        if all(e is not None for e in exacts):
            union = frozenset().union(*(e for e in exacts if e is not None))
            if len(union) <= _EXACT_LIMIT:
                return union, None
        required = [_as_required(b) for b in branches]
        if any(r is None for r in required):
            return _ANY
        return None, frozenset().union(*(r for r in required if r is not None))

    def sequence(self) -> _Info:
        candidates: list[frozenset[str] | None] = []
        accumulated: frozenset[str] | None = frozenset({""})
        exact_throughout = True
        while self.i < len(self.s) and self.s[self.i] not in "|)":
            item = self.quantified(self.atom())
            exact = item[0]
            if (
                accumulated is not None
                and exact is not None
                and len(accumulated) * len(exact) <= _EXACT_LIMIT
            ):
                accumulated = frozenset(a + b for a in accumulated for b in exact)
                continue
            exact_throughout = False
            if accumulated is not None:
                candidates.append(_as_required((accumulated, None)))
            if exact is not None:
                accumulated = exact
            else:
                candidates.append(item[1])
                accumulated = frozenset({""})
        if exact_throughout and accumulated is not None:
            return accumulated, None
        if accumulated is not None:
            candidates.append(_as_required((accumulated, None)))
        return None, _best(candidates)

    def quantified(self, info: _Info) -> _Info:
        match = _QUANTIFIER.match(self.s, self.i)
        if match is None:
            return info
        self.i = match.end()
        if self.i < len(self.s) and self.s[self.i] in "?+":
            self.i += 1  # lazy or possessive: same language
        token = match.group()
        low, high = {"?": (0, 1), "*": (0, None), "+": (1, None)}.get(token, (None, None))
        if token.startswith("{"):
            parts = token[1:-1].split(",")
            low = int(parts[0] or 0)
            high = int(parts[-1]) if parts[-1] else None
        if high == 0:
            return _EMPTY
        if low == 0:
            if high == 1 and info[0] is not None:
                return info[0] | {""}, None
            return _ANY
        if low == high == 1:
            return info
        return None, _as_required(info)

    def atom(self) -> _Info:
        char = self.s[self.i]
        if char == "(":
            return self.group()
        if char == "[":
            self.i = _class_end(self.s, self.i)
            return _ANY
        if char == ".":
            self.i += 1
            return _ANY
        if char in "^$":
            self.i += 1
            return _EMPTY
        if char == "\\":
            escape = self.s[self.i + 1 : self.i + 2]
            self.i += 2
            if escape in ("b", "B", "A", "Z"):
                return _EMPTY
            if escape.isalnum():
                return _ANY  # classes (\d \s \w ...), backreferences and code escapes
            return frozenset({escape}), None
        self.i += 1
        return frozenset({char}), None

    def group(self) -> _Info:
        opener = _GROUP.match(self.s, self.i)
        if opener is None:
            raise LexiconError(f"unsupported group in {self.s!r}")
        self.i = opener.end()
        inner = self.alternation()
        if self.i >= len(self.s) or self.s[self.i] != ")":
            raise LexiconError(f"unbalanced '(' in {self.s!r}")
        self.i += 1
        if opener.group() in ("(?=", "(?!", "(?<=", "(?<!"):
            return _EMPTY
        return inner


def required_literals(compiled: str) -> frozenset[str] | None:
    """Strings one of which every match of the (folded) pattern contains, or None."""
    return _as_required(_Anchors(compiled).parse())


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
class _CompiledRule:
    rule: Rule
    pattern: re.Pattern[str]
    context: re.Pattern[str] | None
    suppressions: tuple[tuple[Suppression, re.Pattern[str]], ...]


@dataclass(frozen=True, slots=True)
class Detector:
    """A compiled lexicon. Build one with `compile_lexicon`; it is safe to share."""

    lexicon: Lexicon
    rules: tuple[_CompiledRule, ...]
    gate: re.Pattern[str] | None
    by_anchor: Mapping[str, tuple[int, ...]]
    always: tuple[int, ...]

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
        return CrisisAssessment(
            crisis=True, categories=tuple(categories), severity=severity, evidence=tuple(evidence)
        )

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
            compiled = self.rules[index]
            spans = [m.span() for m in compiled.pattern.finditer(folded) if m.end() > m.start()]
            if not spans:
                continue
            if compiled.context is not None and compiled.context.search(folded) is None:
                continue
            for start, end in spans:
                if suppress and _silenced(
                    compiled,
                    start=start,
                    end=end,
                    folded=folded,
                    overlaps=overlaps,
                    anywhere=anywhere,
                ):
                    continue
                found.append((compiled.rule, start, end))
        return found


def _silenced(
    compiled: _CompiledRule,
    *,
    start: int,
    end: int,
    folded: str,
    overlaps: dict[str, list[tuple[int, int]]],
    anywhere: dict[str, bool],
) -> bool:
    for suppression, pattern in compiled.suppressions:
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


def compile_lexicon(lexicon: Lexicon, *, require_anchors: bool = False) -> Detector:
    """Compile every rule and the gate over all rules' anchors.

    With `require_anchors`, a rule without a required literal is an error (it would run on
    every message); otherwise such rules are kept and always run.
    """
    compiled: list[_CompiledRule] = []
    anchors: dict[str, set[int]] = {}
    always: list[int] = []
    for index, rule in enumerate(lexicon.rules):
        scoped = tuple(
            (s, re.compile(s.compiled)) for s in lexicon.suppressions if s.applies_to(rule)
        )
        compiled.append(
            _CompiledRule(
                rule=rule,
                pattern=re.compile(rule.compiled),
                context=re.compile(rule.context) if rule.context else None,
                suppressions=scoped,
            )
        )
        # A rule with a context fires only when both match: either one's literals will do.
        literals = _best(
            [required_literals(rule.compiled)]
            + ([required_literals(rule.context)] if rule.context else [])
        )
        if not literals:
            if require_anchors:
                raise LexiconError(
                    f"rule {rule.id}: the pattern has no literal text every match must contain"
                )
            always.append(index)
            continue
        for literal in literals:
            anchors.setdefault(literal, set()).add(index)
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
        rules=tuple(compiled),
        gate=gate,
        by_anchor=by_anchor,
        always=tuple(always),
    )


@cache
def default_detector() -> Detector:
    """The packaged lexicon, compiled once per process."""
    return compile_lexicon(load_lexicon(), require_anchors=True)


def detect_lexicon(text: str) -> CrisisAssessment:
    """Assess one message with the packaged lexicon alone."""
    return default_detector().detect(text)


# What a decision names when the model, not a lexicon rule, found the crisis.
MODEL_RULE: Final = "crisis-model"
MODEL_SEVERITY: Final = "medium"


def with_model(assessment: CrisisAssessment, text: str, model: CrisisModel) -> CrisisAssessment:
    """The lexicon's assessment where it found a crisis; otherwise the model's."""
    if assessment.crisis:
        return assessment
    score = model.score(fold(text))
    if score.category is None:
        return assessment
    evidence = Evidence(MODEL_RULE, score.category, MODEL_SEVERITY, 0, len(text))
    return CrisisAssessment(
        crisis=True, categories=(score.category,), severity=MODEL_SEVERITY, evidence=(evidence,)
    )


def detect_crisis(text: str) -> CrisisAssessment:
    """Assess one message: the packaged lexicon, and the model where the lexicon found none."""
    return with_model(detect_lexicon(text), text, default_model())
