"""`make bench`: every benchmark in turn, each writing its JSON result under bench/results/."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCHMARKS = [
    ("hours", ["bench_hours.py"]),
    ("crisis", ["bench_crisis.py"]),
    ("webhook", ["bench_webhook.py", "--db", "both", "--requests", "3000"]),
    ("delivery", ["bench_delivery.py"]),
    ("memory", ["bench_memory.py"]),
]


def main() -> int:
    results = HERE / "results"
    results.mkdir(exist_ok=True)
    failed = []
    for name, command in BENCHMARKS:
        script = HERE / command[0]
        if not script.exists():
            continue
        print(f"\n== {name} ==", flush=True)
        code = subprocess.call(
            [sys.executable, str(script), *command[1:], "--json", str(results / f"{name}.json")],
            timeout=600,
        )
        if code:
            failed.append(name)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
