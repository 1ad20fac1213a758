"""Anchors: the literal text every match of a lexicon pattern must contain.

A rule's (folded) pattern is read for the literal text any match must contain (its anchors:
"kill myself" needs "kil myself"; `(?:want|wanna) to die` needs "want to die" or "wana to
die"). `rules.crisis` runs a rule only on messages that hold one of its anchors. Words in
nearly every message make poor anchors, so where a pattern offers a choice the rarer literals
are preferred.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache

from rules.crisis_lexicon import GROUP, QUANTIFIER, LexiconError, class_end

__all__ = ["required_literals"]

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


@cache
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


def best_anchors(candidates: Iterable[frozenset[str] | None]) -> frozenset[str] | None:
    """The cheapest set of literals to index a rule by, among those that can anchor it."""
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
        return None, best_anchors(candidates)

    def quantified(self, info: _Info) -> _Info:
        match = QUANTIFIER.match(self.s, self.i)
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
            self.i = class_end(self.s, self.i)
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
        opener = GROUP.match(self.s, self.i)
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
