"""The crisis lexicon's file format: its types, and reading and validating the file.

The lexicon (`rules/data/crisis_lexicon.toml`) is data: each rule is a regular expression over
normalised text (`rules.text`) with a category, a severity and an example it must fire on;
suppressions scope known false alarms (idioms, topic mentions) to rules or categories, so a
strong signal elsewhere in the same message still fires.

Reading a lexicon expands its macros and folds each pattern's literal text the way messages
are folded, so the patterns `rules.crisis` compiles match folded messages as written.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Final, Literal

from rules.crisis_categories import CATEGORIES, SEVERITIES
from rules.text import fold

__all__ = [
    "MODEL_RULE",
    "Escalator",
    "Lexicon",
    "LexiconError",
    "Rule",
    "Suppression",
    "fold_pattern",
    "load_lexicon",
    "parse_lexicon",
]

LEXICON_FILE = "crisis_lexicon.toml"

# The id that the model's hits carry (`rules.crisis_model`). A suppression that names it
# silences the model anywhere in the message: a model hit covers the whole message.
MODEL_RULE: Final = "crisis-model"


class LexiconError(ValueError):
    """The lexicon is malformed; the message names the entry and what is wrong."""


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
class Escalator:
    """A sign of danger now (a time, means at hand, something in progress, a decision) that
    makes any crisis found in the same message one of high severity."""

    id: str
    pattern: str
    compiled: str
    example: str
    not_examples: tuple[str, ...] = ()
    note: str = ""


@dataclass(frozen=True, slots=True)
class Lexicon:
    rules: tuple[Rule, ...]
    suppressions: tuple[Suppression, ...]
    macros: Mapping[str, str] = field(default_factory=dict)
    escalators: tuple[Escalator, ...] = ()


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
# The regex subset the lexicon allows; rules.crisis_anchors reads patterns with the same pieces.
QUANTIFIER = re.compile(r"[?*+]|\{\d*(?:,\d*)?\}")
GROUP = re.compile(r"\((?:\?(?::|=|!|<=|<!))?(?!\?)")


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
            end = class_end(source, i)
            out.append(source[i:end])
            i = end
            continue
        if char == "(":
            flush()
            opener = GROUP.match(source, i)
            if opener is None:
                raise LexiconError(
                    f"unsupported group at {source[i : i + 6]!r}: use ( (?: (?= (?! (?<= (?<! only"
                )
            out.append(opener.group())
            i += len(opener.group())
            continue
        if char in _META:
            flush()
            quantifier = QUANTIFIER.match(source, i)
            if char == "{" and quantifier is None:
                raise LexiconError(f"stray '{{' at {source[i : i + 12]!r}")
            token = quantifier.group() if quantifier else char
            out.append(token)
            i += len(token)
            continue
        if QUANTIFIER.match(source, i + 1):
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


def class_end(source: str, start: int) -> int:
    """The index just past the character class `[...]` that opens at `start`."""
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


@cache
def compiled_pattern(source: str) -> re.Pattern[str]:
    """`re.compile`, remembered for the process: re's own cache holds 512 patterns, fewer than
    a lexicon's, and reading and compiling a lexicon both need every pattern."""
    return re.compile(source)


@dataclass(frozen=True, slots=True)
class _Folder:
    """Turns a pattern as written into the pattern `rules.crisis` runs: macros expanded,
    literal text folded. `folds` remembers each result by the pattern as written (valid for
    one set of macros); with `check`, each result is also compiled, to name a pattern that
    does not compile."""

    macros: Mapping[str, str]
    folds: dict[str, str]
    check: bool

    def __call__(self, source: str, where: str) -> str:
        folded = self.folds.get(source)
        if folded is None:
            folded = fold_pattern(_expand(source, self.macros, where))
            self.folds[source] = folded
        if self.check:
            try:
                compiled_pattern(folded)
            except re.error as error:
                raise LexiconError(f"{where}: pattern does not compile: {error}") from error
        return folded


def _unique_id(
    entry: Mapping[str, object], kind: str, index: int, seen: set[str]
) -> tuple[str, str]:
    """The entry's id, checked and recorded as taken, and how errors name the entry."""
    entry_id = _text(entry, "id", f"{kind} #{index + 1}")
    where = f"{kind} {entry_id}"
    if not _ID.fullmatch(entry_id) or entry_id in seen:
        raise LexiconError(f"{where}: ids are unique, lowercase words joined by '-'")
    seen.add(entry_id)
    return entry_id, where


def parse_lexicon(
    document: Mapping[str, object], *, folds: dict[str, str] | None = None, check: bool = True
) -> Lexicon:
    """Validate a lexicon document (the TOML's tables) and expand its macros.

    `folds` maps patterns as written to their expanded, folded form for this document's
    macros: it is read where it has an entry and filled in where not. Without `check`,
    patterns are not compiled here, only when first used (`rules.crisis`).
    """
    raw_macros = document.get("macros", {})
    if not isinstance(raw_macros, dict) or not all(isinstance(v, str) for v in raw_macros.values()):
        raise LexiconError("[macros] must map names to pattern strings")
    macros = {str(k): str(v) for k, v in raw_macros.items()}
    folder = _Folder(macros, folds if folds is not None else {}, check)
    seen: set[str] = set()  # ids are unique across rules, suppressions and escalations
    rules = _rules(document, folder, seen)
    return Lexicon(
        rules=rules,
        suppressions=_suppressions(document, folder, seen, {r.id for r in rules}),
        macros=macros,
        escalators=_escalators(document, folder, seen),
    )


def _rules(document: Mapping[str, object], folder: _Folder, seen: set[str]) -> tuple[Rule, ...]:
    rules: list[Rule] = []
    for index, entry in enumerate(_entries(document, "rule")):
        rule_id, where = _unique_id(entry, "rule", index, seen)
        category = _text(entry, "category", where)
        if category not in CATEGORIES:
            raise LexiconError(f"{where}: category must be one of {', '.join(CATEGORIES)}")
        severity = _text(entry, "severity", where)
        if severity not in SEVERITIES:
            raise LexiconError(f"{where}: severity must be one of {', '.join(SEVERITIES)}")
        pattern = _text(entry, "pattern", where)
        compiled = folder(pattern, where)
        context_source = _text(entry, "context", where, required=False)
        context = folder(context_source, where) if context_source else None
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
    return tuple(rules)


def _suppressions(
    document: Mapping[str, object], folder: _Folder, seen: set[str], rule_ids: set[str]
) -> tuple[Suppression, ...]:
    suppressions: list[Suppression] = []
    for index, entry in enumerate(_entries(document, "suppress")):
        sid, where = _unique_id(entry, "suppress", index, seen)
        scoped_rules = frozenset(_texts(entry, "rules", where))
        scoped_categories = frozenset(_texts(entry, "categories", where))
        unknown = scoped_rules - rule_ids - {MODEL_RULE}
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
                compiled=folder(pattern, where),
                rules=scoped_rules,
                categories=scoped_categories,
                within="match" if within == "match" else "message",
                example=_text(entry, "example", where),
                note=_text(entry, "note", where, required=False),
            )
        )
    return tuple(suppressions)


def _escalators(
    document: Mapping[str, object], folder: _Folder, seen: set[str]
) -> tuple[Escalator, ...]:
    escalators: list[Escalator] = []
    for index, entry in enumerate(_entries(document, "escalate")):
        eid, where = _unique_id(entry, "escalate", index, seen)
        pattern = _text(entry, "pattern", where)
        escalators.append(
            Escalator(
                id=eid,
                pattern=pattern,
                compiled=folder(pattern, where),
                example=_text(entry, "example", where),
                not_examples=_texts(entry, "not_examples", where),
                note=_text(entry, "note", where, required=False),
            )
        )
    return tuple(escalators)


def _entries(document: Mapping[str, object], key: str) -> list[Mapping[str, object]]:
    value = document.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise LexiconError(f"[[{key}]] must be an array of tables")
    return list(value)


def load_lexicon() -> Lexicon:
    """The packaged lexicon."""
    source = resources.files("rules").joinpath("data", LEXICON_FILE).read_text(encoding="utf-8")
    return parse_lexicon(tomllib.loads(source))
