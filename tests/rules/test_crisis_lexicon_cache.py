"""The packaged lexicon's cache: current, ignored when stale, and read to the same detector."""

from __future__ import annotations

import gzip
import json
from importlib import resources

from rules.crisis import compile_lexicon, default_detector
from rules.crisis_lexicon import LEXICON_FILE, load_lexicon
from rules.crisis_lexicon_cache import CACHE_FILE, _read_cache, build_cache

DATA = resources.files("rules").joinpath("data")
TEXT = DATA.joinpath(LEXICON_FILE).read_text(encoding="utf-8")


def test_the_packaged_cache_was_built_from_the_packaged_lexicon() -> None:
    """After editing the lexicon: .venv/bin/python tools/build_crisis_lexicon_cache.py"""
    packaged = _read_cache(DATA.joinpath(CACHE_FILE).read_bytes(), TEXT)
    assert packaged != ({}, {}), "the cache is stale: run tools/build_crisis_lexicon_cache.py"
    assert packaged == _read_cache(build_cache(TEXT), TEXT)


def test_a_cache_built_from_another_text_is_ignored() -> None:
    edited = TEXT + "\n# an edit\n"
    assert _read_cache(DATA.joinpath(CACHE_FILE).read_bytes(), edited) == ({}, {})


def test_a_damaged_cache_is_ignored() -> None:
    cache = DATA.joinpath(CACHE_FILE).read_bytes()
    assert _read_cache(cache[: len(cache) // 2], TEXT) == ({}, {})
    assert _read_cache(b"not gzip", TEXT) == ({}, {})
    assert _read_cache(gzip.compress(json.dumps([1]).encode()), TEXT) == ({}, {})


def test_the_default_detector_is_the_one_built_without_the_cache() -> None:
    fresh = compile_lexicon(load_lexicon(), require_anchors=True)
    cached = default_detector()
    assert cached.lexicon == fresh.lexicon
    assert cached.by_anchor == fresh.by_anchor
    assert cached.always == fresh.always
