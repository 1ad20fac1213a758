"""Write rules/data/crisis_lexicon.cache.json.gz again after editing the crisis lexicon.

.venv/bin/python tools/build_crisis_lexicon_cache.py
"""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from rules.crisis_lexicon import LEXICON_FILE  # noqa: E402
from rules.crisis_lexicon_cache import CACHE_FILE, build_cache  # noqa: E402


def main() -> None:
    data = REPO / "rules" / "data"
    text = (data / LEXICON_FILE).read_text(encoding="utf-8")
    (data / CACHE_FILE).write_bytes(build_cache(text))
    print(f"wrote rules/data/{CACHE_FILE}")


if __name__ == "__main__":
    main()
