"""The packaged lexicon, read in a fraction of a second.

Reading the lexicon's TOML computes, for each of its patterns, the expanded and folded form
(`rules.crisis_lexicon`) and, for each rule, its anchors (`rules.crisis_anchors`): several
seconds of pure Python, which every `gateway serve` and `gateway classify` would spend before
answering. `crisis_lexicon.cache.json.gz`, beside the TOML, keeps both for the exact text it
was built from. A cache built from another text is ignored and everything is computed, so a
stale cache costs time, never correctness; a test fails while it is stale.

Write it again after editing the lexicon:

    .venv/bin/python tools/build_crisis_lexicon_cache.py
"""

from __future__ import annotations

import gzip
import hashlib
import json
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Final

from rules.crisis_anchors import best_anchors, required_literals
from rules.crisis_lexicon import LEXICON_FILE, Lexicon, Rule, parse_lexicon

__all__ = ["CACHE_FILE", "PackagedLexicon", "anchors_of", "build_cache", "packaged_lexicon"]

CACHE_FILE: Final = "crisis_lexicon.cache.json.gz"
_FORMAT: Final = 1

# A rule's anchors: the literals to index it by, or None when it has none.
Anchors = Mapping[str, frozenset[str] | None]


@dataclass(frozen=True, slots=True)
class PackagedLexicon:
    lexicon: Lexicon
    anchors: Anchors


def anchors_of(rule: Rule) -> frozenset[str] | None:
    """The literals to index a rule by. A rule with a context fires only when both match:
    either one's literals will do."""
    return best_anchors(
        [required_literals(rule.compiled)]
        + ([required_literals(rule.context)] if rule.context else [])
    )


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def build_cache(text: str) -> bytes:
    """The cache for the lexicon `text` (checked as thoroughly as without a cache)."""
    folds: dict[str, str] = {}
    lexicon = parse_lexicon(tomllib.loads(text), folds=folds)
    anchors = {rule.id: anchors_of(rule) for rule in lexicon.rules}
    document = {
        "format": _FORMAT,
        "source_sha256": _digest(text),
        "folds": folds,
        "anchors": {k: sorted(v) if v is not None else None for k, v in anchors.items()},
    }
    # mtime=0: the same lexicon gives the same bytes.
    return gzip.compress(json.dumps(document, sort_keys=True).encode("utf-8"), mtime=0)


def _read_cache(raw: bytes, text: str) -> tuple[dict[str, str], dict[str, frozenset[str] | None]]:
    """The cache's folds and anchors when it was built from `text`, else empty ones."""
    try:
        document = json.loads(gzip.decompress(raw))
    except (OSError, EOFError, ValueError):
        return {}, {}
    if (
        not isinstance(document, dict)
        or document.get("format") != _FORMAT
        or document.get("source_sha256") != _digest(text)
    ):
        return {}, {}
    folds = document.get("folds")
    anchors = document.get("anchors")
    if not isinstance(folds, dict) or not isinstance(anchors, dict):
        return {}, {}
    return (
        {str(k): str(v) for k, v in folds.items()},
        {str(k): frozenset(v) if isinstance(v, list) else None for k, v in anchors.items()},
    )


def packaged_lexicon() -> PackagedLexicon:
    """The packaged lexicon and its rules' anchors, from the cache where it matches.

    Patterns are not compiled here: `rules.crisis` compiles each when first used (a test
    compiles every one).
    """
    data = resources.files("rules").joinpath("data")
    text = data.joinpath(LEXICON_FILE).read_text(encoding="utf-8")
    cache = data.joinpath(CACHE_FILE)
    folds, anchors = _read_cache(cache.read_bytes(), text) if cache.is_file() else ({}, {})
    lexicon = parse_lexicon(tomllib.loads(text), folds=folds, check=False)
    return PackagedLexicon(
        lexicon,
        {
            rule.id: anchors[rule.id] if rule.id in anchors else anchors_of(rule)
            for rule in lexicon.rules
        },
    )
