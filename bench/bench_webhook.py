"""Webhook throughput and latency: the gateway against a bare aiohttp app, same load.

    python bench/bench_webhook.py [--db sqlite|postgres|both] [--requests N] [--concurrency C]

Starts `gateway serve` (worker included, dry-run sender) on a fresh database with a generated
practice, and a bare aiohttp app that answers a constant TwiML on the same route; posts the
same number of distinct, signed inbound SMS to each (a mix of in-hours, after-hours, crisis
and unknown-sender messages) at a fixed concurrency; prints requests per second, latency
percentiles and errors, and the gateway/bare ratio. Then measures p99 at half the gateway's
peak rate. Results are also written as JSON (--json PATH).

All traffic goes to 127.0.0.1; every loop is bounded in count and time.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
from twilio.request_validator import RequestValidator

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
TOKEN = "0123456789abcdef0123456789abcdef"
PRACTICE_NUMBER = "+15550001000"
CLIENTS_PER_THERAPIST = 400
SETTLE_SECONDS = 5.0
POSTGRES_URL = os.environ.get(
    "GATEWAY_BENCH_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)
CRISIS = [
    "i want to kill myself tonight",
    "took 30 tylenol cant breathe",
    "i dont want to be alive anymore",
]
ORDINARY = [
    "can we move thursday to 3pm",
    "running 10 min late sorry",
    "is my copay the same this year",
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def practice_file(folder: Path) -> Path:
    """Therapist 'open' is always reachable; 'later' opens a few hours from now."""
    start = (datetime.now(ZoneInfo("America/New_York")) + timedelta(hours=6)).replace(minute=0)
    day = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")[start.weekday()]
    window = f"{start:%H}:00-{(start.hour + 1) % 24:02d}:00"
    lines = [
        "[practice]",
        'name = "Bench Practice"',
        'country = "US"',
        'timezone = "America/New_York"',
        'new_contact_reply = "Thanks for writing. Call (555) 010-2000 for appointments."',
        'on_call = "+15551239999"',
    ]
    for index, (therapist, hours) in enumerate((("open", None), ("later", window))):
        lines += [
            "[[therapists]]",
            f'id = "{therapist}"',
            f'name = "Dr. {therapist.title()}"',
            f'number = "{PRACTICE_NUMBER}"',
            f'forward_to = "+1555123{index:04d}"',
            'forward = "notify"',
            "public_holidays = false",
        ]
        lines += (
            [
                f'hours.{d} = ["00:00-24:00"]'
                for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
            ]
            if hours is None
            else [f'hours.{day} = ["{hours}"]']
        )
    for index, therapist in enumerate(
        ["open"] * CLIENTS_PER_THERAPIST + ["later"] * CLIENTS_PER_THERAPIST
    ):
        lines += [
            "[[clients]]",
            f'id = "c{index}"',
            f'name = "Client {index}"',
            f'phone = "+1555700{index:04d}"',
            f'therapist = "{therapist}"',
        ]
    path = folder / "practice.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def messages(count: int, url: str, seed: int) -> list[tuple[dict[str, str], str]]:
    """Distinct signed SMS: 50% in hours, 30% after hours, 10% crisis, 10% unknown sender."""
    rng = random.Random(seed)
    validator = RequestValidator(TOKEN)
    out = []
    for n in range(count):
        kind = rng.random()
        if kind < 0.5:
            sender, body = (
                f"+1555700{rng.randrange(CLIENTS_PER_THERAPIST):04d}",
                rng.choice(ORDINARY),
            )
        elif kind < 0.8:
            sender = f"+1555700{CLIENTS_PER_THERAPIST + rng.randrange(CLIENTS_PER_THERAPIST):04d}"
            body = rng.choice(ORDINARY)
        elif kind < 0.9:
            sender, body = (
                f"+1555700{rng.randrange(2 * CLIENTS_PER_THERAPIST):04d}",
                rng.choice(CRISIS),
            )
        else:
            sender, body = f"+1555800{rng.randrange(10_000):04d}", rng.choice(ORDINARY)
        params = {
            "MessageSid": f"SM{seed:08x}{n:024x}",
            "AccountSid": "AC" + "0" * 32,
            "From": sender,
            "To": PRACTICE_NUMBER,
            "Body": body,
            "NumMedia": "0",
        }
        out.append((params, validator.compute_signature(url + "/twilio/sms", params)))
    return out


@dataclass
class Result:
    target: str
    requests: int
    concurrency: int
    seconds: float
    rps: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    errors: int
    # The server process's CPU time (all threads) per request, from /proc; None elsewhere.
    cpu_us_per_request: float | None = None


def cpu_seconds(pid: int) -> float | None:
    """User plus system CPU time of a process, all its threads, from /proc (Linux)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(values: list[float], fraction: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


async def load(
    target: str,
    base: str,
    batch: list[tuple[dict[str, str], str]],
    concurrency: int,
    rate: float | None = None,
) -> Result:
    """Post every message once; with `rate`, at that many per second (open loop)."""
    latencies: list[float] = []
    errors = 0
    queue: asyncio.Queue[tuple[dict[str, str], str]] = asyncio.Queue()
    for item in batch:
        queue.put_nowait(item)
    started = time.perf_counter()
    deadline = started + 300

    async def worker(session: aiohttp.ClientSession, index: int) -> None:
        nonlocal errors
        sent = 0
        while not queue.empty() and time.perf_counter() < deadline:
            params, signature = queue.get_nowait()
            if rate is not None:
                due = started + (index + sent * concurrency) / rate
                await asyncio.sleep(max(0.0, due - time.perf_counter()))
                sent += 1
            began = time.perf_counter()
            try:
                async with session.post(
                    base + "/twilio/sms", data=params, headers={"X-Twilio-Signature": signature}
                ) as response:
                    await response.read()
                    if response.status != 200:
                        errors += 1
            except aiohttp.ClientError:
                errors += 1
            latencies.append(time.perf_counter() - began)

    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        await asyncio.gather(*(worker(session, i) for i in range(concurrency)))
    seconds = time.perf_counter() - started
    ms = [value * 1000 for value in latencies]
    return Result(
        target,
        len(latencies),
        concurrency,
        round(seconds, 3),
        round(len(latencies) / seconds, 1),
        round(percentile(ms, 0.50), 2),
        round(percentile(ms, 0.95), 2),
        round(percentile(ms, 0.99), 2),
        errors,
    )


async def wait_ready(base: str, seconds: float = 30) -> None:
    end = time.monotonic() + seconds
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < end:
            try:
                async with session.get(base + "/healthz") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.2)
    raise RuntimeError(f"{base} did not start")


def start_gateway(
    folder: Path, database_url: str, port: int, *, worker: bool = True
) -> subprocess.Popen[bytes]:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("GATEWAY_", "TWILIO_"))},
        "GATEWAY_DATABASE_URL": database_url,
        "GATEWAY_PUBLIC_URL": f"http://127.0.0.1:{port}",
        "TWILIO_AUTH_TOKEN": TOKEN,
        "GATEWAY_SPOOL_DIR": str(folder / "spool"),
        "GATEWAY_LOG_FORMAT": "json",
    }
    keys = subprocess.run(
        [BIN / "gateway", "keys", "new"], capture_output=True, text=True, check=True
    ).stdout.strip()
    index = subprocess.run(
        [BIN / "gateway", "keys", "new"], capture_output=True, text=True, check=True
    ).stdout.strip()
    env.update(
        {
            "GATEWAY_ENCRYPTION_KEYS": keys,
            "GATEWAY_INDEX_KEY": index,
            "GATEWAY_SESSION_SECRET": "bench" * 8,
        }
    )
    for command in (["migrate"], ["import", str(practice_file(folder))]):
        subprocess.run(
            [BIN / "gateway", *command], env=env, cwd=folder, check=True, capture_output=True
        )
    return subprocess.Popen(
        [BIN / "gateway", "serve", *([] if worker else ["--no-worker"]), "--port", str(port)],
        env=env,
        cwd=folder,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def start_bare(port: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, str(REPO / "bench" / "bare_app.py"), str(port)])


async def measure(
    name: str, base: str, count: int, concurrency: int, *, seed: int, pid: int
) -> Result:
    await load(name, base, messages(min(200, count), base, seed + 1), concurrency)  # warm-up
    before = cpu_seconds(pid)
    result = await load(name, base, messages(count, base, seed), concurrency)
    after = cpu_seconds(pid)
    if before is not None and after is not None and result.requests:
        result.cpu_us_per_request = round((after - before) * 1e6 / result.requests)
    return result


async def run(args: argparse.Namespace) -> dict[str, Any]:
    results: dict[str, Any] = {
        "requests": args.requests,
        "concurrency": args.concurrency,
        "runs": [],
    }
    with tempfile.TemporaryDirectory() as temp:
        folder = Path(temp)
        bare_port = free_port()
        bare = start_bare(bare_port)
        try:
            await wait_ready(f"http://127.0.0.1:{bare_port}")
            bare_result = await measure(
                "bare",
                f"http://127.0.0.1:{bare_port}",
                args.requests,
                args.concurrency,
                seed=1,
                pid=bare.pid,
            )
        finally:
            bare.terminate()
            bare.wait(10)
        results["runs"].append(asdict(bare_result))
        print_row(bare_result)
        for db in ["sqlite", "postgres"] if args.db == "both" else [args.db]:
            url = f"sqlite+aiosqlite:///{folder / 'bench.db'}" if db == "sqlite" else await pg_url()
            port = free_port()
            server = start_gateway(folder, url, port)
            try:
                base = f"http://127.0.0.1:{port}"
                await wait_ready(base)
                peak = await measure(
                    f"gateway-{db}", base, args.requests, args.concurrency, seed=2, pid=server.pid
                )
                print_row(peak)
                half_rate = max(1.0, peak.rps / 2)
                # The paced run measures a steady half load, not the worker catching up with
                # the alerts of the peak run.
                await asyncio.sleep(SETTLE_SECONDS)
                count = min(args.requests, int(half_rate * 10))
                paced = await load(
                    f"gateway-{db}@{half_rate:.0f}/s",
                    base,
                    messages(count, base, 3),
                    args.concurrency,
                    rate=half_rate,
                )
                print_row(paced)
            finally:
                server.terminate()
                server.wait(15)
            ratio = round(peak.rps / bare_result.rps, 3) if bare_result.rps else None
            print(f"gateway-{db}/bare throughput ratio: {ratio}")
            results["runs"] += [asdict(peak), asdict(paced)]
            results[f"ratio_{db}"] = ratio
    return results


async def pg_url() -> str:
    """A fresh PostgreSQL database for this run."""
    import asyncpg  # noqa: PLC0415 - only the PostgreSQL variant needs it

    name = f"gateway_bench_{os.getpid()}"
    dsn = POSTGRES_URL.replace("postgresql+asyncpg", "postgresql")
    admin = await asyncpg.connect(dsn.rsplit("/", 1)[0] + "/postgres")
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    return POSTGRES_URL.rsplit("/", 1)[0] + "/" + name


def print_row(result: Result) -> None:
    print(
        f"{result.target:<24} {result.requests:>6} req  {result.rps:>8.1f} req/s  "
        f"p50 {result.p50_ms:>7.2f} ms  p95 {result.p95_ms:>7.2f} ms  "
        f"p99 {result.p99_ms:>7.2f} ms  "
        f"errors {result.errors}"
        + (
            f"  cpu {result.cpu_us_per_request:>5.0f} us/req"
            if result.cpu_us_per_request is not None
            else ""
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--db", choices=["sqlite", "postgres", "both"], default="sqlite")
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    results = asyncio.run(run(args))
    results["at"] = datetime.now(UTC).isoformat()
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
