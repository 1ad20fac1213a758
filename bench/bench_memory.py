"""Memory of `gateway serve` under a long stream of inbound SMS: does its RSS stay flat?

    python bench/bench_memory.py [--messages N] [--db sqlite|postgres] [--json PATH]

Starts `gateway serve --no-worker` on a fresh database with bench_webhook's generated practice,
posts N distinct signed inbound SMS (bench_webhook's mix) in ten chunks at a fixed concurrency,
and after each chunk reads the server process's VmRSS (resident now) and VmHWM (peak) from
/proc/PID/status. Reports the curve and the RSS growth per 10,000 messages after the first 20%
(warm-up: caches, pools, the crisis lexicon), as a least-squares slope; the target is flat.
Stops early, with a note, when posting takes longer than --max-minutes.

All traffic goes to 127.0.0.1; every loop is bounded in count and time.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_webhook import (  # noqa: E402 - after the path set-up above
    POSTGRES_URL,
    free_port,
    load,
    messages,
    pg_url,
    start_gateway,
    wait_ready,
)

CHUNKS = 10
WARM_UP_CHUNKS = 2  # the first 20%
PER = 10_000


@dataclass
class Sample:
    messages: int
    seconds: float
    rss_mb: float
    hwm_mb: float
    anon_mb: float
    errors: int


def memory(pid: int) -> tuple[float, float, float]:
    """(VmRSS, VmHWM, RssAnon) of `pid` in MiB: resident now, peak, and the part that is heap
    and stacks rather than mapped files (code, shared libraries)."""
    values: dict[str, float] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in {"VmRSS", "VmHWM", "RssAnon"}:
            values[key] = int(rest.split()[0]) / 1024  # kB
    return (
        round(values["VmRSS"], 1),
        round(values["VmHWM"], 1),
        round(values["RssAnon"], 1),
    )


def show(sample: Sample) -> None:
    print(
        f"{sample.messages:>8} messages {sample.seconds:>7.1f} s  "
        f"RSS {sample.rss_mb:>7.1f} MiB (anon {sample.anon_mb:>7.1f})  "
        f"peak {sample.hwm_mb:>7.1f} MiB  "
        f"errors {sample.errors}",
        flush=True,
    )


def slope(points: list[tuple[int, float]]) -> float | None:
    """Least-squares slope of RSS (MiB) over messages, per PER messages."""
    if len(points) < 2:
        return None
    xs = [float(x) for x, _ in points]
    ys = [y for _, y in points]
    mean_x, mean_y = sum(xs) / len(xs), sum(ys) / len(ys)
    spread = sum((x - mean_x) ** 2 for x in xs)
    if spread == 0:
        return None
    return sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True)) / spread * PER


async def run(args: argparse.Namespace) -> dict[str, Any]:
    chunk = max(1, args.messages // CHUNKS)
    samples: list[Sample] = []
    note = None
    with tempfile.TemporaryDirectory() as temp:
        folder = Path(temp)
        url = (
            f"sqlite+aiosqlite:///{folder / 'bench.db'}" if args.db == "sqlite" else await pg_url()
        )
        port = free_port()
        server = start_gateway(folder, url, port, worker=False)
        try:
            base = f"http://127.0.0.1:{port}"
            await wait_ready(base)
            started = time.perf_counter()
            deadline = started + args.max_minutes * 60
            samples.append(Sample(0, 0.0, *memory(server.pid), errors=0))
            show(samples[0])
            posted = errors = 0
            for index in range(CHUNKS):
                if time.perf_counter() > deadline:
                    note = (
                        f"stopped after {posted} of {args.messages} messages: "
                        f"over {args.max_minutes} minutes"
                    )
                    break
                size = chunk if index < CHUNKS - 1 else args.messages - posted
                # A seed per chunk: MessageSids stay distinct across the whole run.
                result = await load(
                    "gateway", base, messages(size, base, 100 + index), args.concurrency
                )
                posted += result.requests
                errors += result.errors
                if server.poll() is not None:
                    note = f"the server exited (code {server.returncode}) after {posted} messages"
                    break
                sample = Sample(
                    posted, round(time.perf_counter() - started, 1), *memory(server.pid), errors
                )
                samples.append(sample)
                show(sample)
                if result.requests < size:
                    note = f"chunk {index + 1} stopped at load()'s own time bound"
                    break
        finally:
            server.terminate()
            try:
                server.wait(15)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait(5)
    after_warm_up = [(s.messages, s.rss_mb) for s in samples[1 + WARM_UP_CHUNKS :]]
    if args.db == "postgres":
        await drop_pg(url)
    growth = slope(after_warm_up)
    return {
        "db": args.db,
        "messages": args.messages,
        "posted": samples[-1].messages,
        "concurrency": args.concurrency,
        "samples": [asdict(sample) for sample in samples],
        "rss_growth_mb_per_10k_after_warm_up": None if growth is None else round(growth, 2),
        "peak_rss_mb": max(sample.hwm_mb for sample in samples),
        "note": note,
        "python": platform.python_version(),
    }


async def drop_pg(url: str) -> None:
    import asyncpg  # noqa: PLC0415 - only the PostgreSQL variant needs it

    dsn = POSTGRES_URL.replace("postgresql+asyncpg", "postgresql")
    admin = await asyncpg.connect(dsn.rsplit("/", 1)[0] + "/postgres")
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')
    finally:
        await admin.close()


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--max-minutes", type=float, default=8.0)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    if args.messages < CHUNKS:
        parser.error(f"--messages must be at least {CHUNKS}")
    results = asyncio.run(run(args))
    results["at"] = datetime.now(UTC).isoformat()
    growth = results["rss_growth_mb_per_10k_after_warm_up"]
    print(
        f"{results['posted']} messages posted; peak RSS {results['peak_rss_mb']} MiB; "
        f"RSS growth after the first 20%: "
        f"{'n/a' if growth is None else f'{growth:+.2f} MiB'} per 10,000 messages"
    )
    if results["note"]:
        print(f"note: {results['note']}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
