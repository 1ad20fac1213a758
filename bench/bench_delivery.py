"""Delivery throughput: outbox rows sent per second to a fake Twilio by one and two workers.

    python bench/bench_delivery.py [--rows N] [--db sqlite|postgres] [--json PATH]

Creates a fresh database (SQLite in a temporary directory, or a fresh PostgreSQL database),
inserts N due `forward` rows sealed with a Vault and spread over 50 practice numbers (send rate
1000/s per number, so the rate limit is not what is measured), starts FakeTwilio (real HTTP on
127.0.0.1, in this process) and drains the outbox:

- baseline: N plain `TwilioRestSender.send` calls to the fake, one after another, no database;
- one worker: `DeliveryWorker.run_once(now)` in a loop until every row is sent;
- two workers: N fresh rows, two workers' loops under `asyncio.gather`.

Reports rows per second, the ratio to the baseline, and, counted at the fake by body (each row
has a distinct body), how many rows were sent more than once. Every loop is bounded in passes
and time; all traffic goes to 127.0.0.1.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import platform
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from bench_webhook import POSTGRES_URL, pg_url  # noqa: E402 - after the path set-up above
from sqlalchemy import func, insert, select  # noqa: E402
from sqlalchemy.ext.asyncio import AsyncEngine  # noqa: E402

from gateway.clock import SystemClock  # noqa: E402
from gateway.crypto import new_key  # noqa: E402
from gateway.db.engine import create_engine  # noqa: E402
from gateway.db.tables import OutboxRow  # noqa: E402
from gateway.delivery.worker import BATCH_SIZE, DeliveryWorker  # noqa: E402
from gateway.logs import configure_logging  # noqa: E402
from gateway.metrics import Metrics  # noqa: E402
from gateway.migrate import upgrade_to_head  # noqa: E402
from gateway.outbox import outbox_row  # noqa: E402
from gateway.settings import Settings  # noqa: E402
from gateway.twilio.sender import OutboundSms, Sent, TwilioRestSender  # noqa: E402
from gateway.vault import Vault  # noqa: E402
from tests.fakes.twilio_api import FakeTwilio  # noqa: E402

NUMBERS = 50
SEND_RATE = 1000.0
AUTH_TOKEN = "0123456789abcdef0123456789abcdef"
PHASE_SECONDS = 240.0


@dataclass
class Phase:
    name: str
    rows: int
    sent: int
    seconds: float
    per_second: float
    passes: int
    double_sends: int
    post_attempts: int
    states: dict[str, int]


def number(index: int) -> str:
    return f"+1555000{index % NUMBERS:04d}"


def make_settings(database_url: str, folder: Path, fake: FakeTwilio) -> Settings:
    # model_validate reads neither the environment nor .env.
    return Settings.model_validate(
        {
            "GATEWAY_DATABASE_URL": database_url,
            "GATEWAY_PUBLIC_URL": "http://127.0.0.1:9",  # the status callback; never called
            "TWILIO_ACCOUNT_SID": fake.account_sid,
            "TWILIO_AUTH_TOKEN": fake.auth_token,
            "GATEWAY_TWILIO_API_URL": fake.url,
            "GATEWAY_TWILIO_TIMEOUT": 10.0,
            "GATEWAY_ENCRYPTION_KEYS": new_key(),
            "GATEWAY_INDEX_KEY": new_key(),
            "GATEWAY_SESSION_SECRET": "bench" * 8,
            "GATEWAY_SPOOL_DIR": folder / "spool",
            "GATEWAY_SEND_RATE": SEND_RATE,
        }
    )


def sender_for(settings: Settings) -> TwilioRestSender:
    return TwilioRestSender(
        settings.twilio_account_sid or "",
        settings.secret("auth_token"),
        settings.twilio_api_url,
        settings.twilio_timeout_seconds,
    )


async def insert_due(engine: AsyncEngine, vault: Vault, prefix: str, count: int) -> None:
    """`count` due forwards with distinct bodies, numbers taken in turn so that a batch of
    claims holds one row per number."""
    now = datetime.now(UTC)
    rows = [
        outbox_row(
            vault,
            kind="forward",
            from_number=number(n),
            to_number=f"+1555123{n % NUMBERS:04d}",
            body=f"{prefix} {n}: synthetic forward for the delivery benchmark",
            due_at=now - timedelta(seconds=1) + timedelta(microseconds=n),
            now=now,
            details={"held": False},
        )
        for n in range(count)
    ]
    async with engine.begin() as connection:
        for start in range(0, len(rows), 500):
            await connection.execute(insert(OutboxRow), rows[start : start + 500])


async def states(engine: AsyncEngine) -> dict[str, int]:
    """Outbox rows by state, every run so far."""
    async with engine.connect() as connection:
        result = await connection.execute(
            select(OutboxRow.state, func.count()).group_by(OutboxRow.state)
        )
        return {state: int(count) for state, count in result}


async def drain(
    name: str,
    engine: AsyncEngine,
    workers: Sequence[DeliveryWorker],
    fake: FakeTwilio,
    *,
    prefix: str,
    count: int,
) -> Phase:
    """Run the workers' loops until the fake has every row of this phase (bounded)."""
    first_message = len(fake.messages)
    first_attempt = fake.post_attempts
    clock = SystemClock()
    max_passes = 20 * (count // BATCH_SIZE + 1) + 1000
    passes = 0
    started = time.perf_counter()
    deadline = started + PHASE_SECONDS

    def done() -> bool:
        return len(fake.messages) - first_message >= count

    async def loop(worker: DeliveryWorker) -> None:
        nonlocal passes
        while not done() and passes < max_passes and time.perf_counter() < deadline:
            passes += 1
            if await worker.run_once(clock.now()) == 0:
                await asyncio.sleep(0.002)  # the other worker holds the rest, or slots are busy

    await asyncio.gather(*(loop(worker) for worker in workers))
    seconds = time.perf_counter() - started
    bodies = Counter(
        message.body for message in fake.messages[first_message:] if message.body.startswith(prefix)
    )
    sent = len(bodies)
    return Phase(
        name=name,
        rows=count,
        sent=sent,
        seconds=round(seconds, 3),
        per_second=round(sent / seconds, 1),
        passes=passes,
        double_sends=sum(copies - 1 for copies in bodies.values()),
        post_attempts=fake.post_attempts - first_attempt,
        states=await states(engine),
    )


async def baseline(sender: TwilioRestSender, fake: FakeTwilio, count: int) -> Phase:
    """Plain sends to the fake, one after another, as one worker sends: no database."""
    first_message = len(fake.messages)
    first_attempt = fake.post_attempts
    started = time.perf_counter()
    deadline = started + PHASE_SECONDS
    sent = 0
    for n in range(count):
        if time.perf_counter() > deadline:
            break
        outcome = await sender.send(
            OutboundSms(
                from_number=number(n),
                to_number=f"+1555123{n % NUMBERS:04d}",
                body=f"baseline {n}: synthetic forward for the delivery benchmark",
                status_callback="http://127.0.0.1:9/twilio/status",
            )
        )
        sent += isinstance(outcome, Sent)
    seconds = time.perf_counter() - started
    bodies = Counter(message.body for message in fake.messages[first_message:])
    return Phase(
        name="baseline: sender.send, no database",
        rows=count,
        sent=sent,
        seconds=round(seconds, 3),
        per_second=round(sent / seconds, 1),
        passes=0,
        double_sends=sum(copies - 1 for copies in bodies.values()),
        post_attempts=fake.post_attempts - first_attempt,
        states={},
    )


async def drop_pg(url: str) -> None:
    import asyncpg  # noqa: PLC0415 - only the PostgreSQL variant needs it

    name = url.rsplit("/", 1)[1]
    dsn = POSTGRES_URL.replace("postgresql+asyncpg", "postgresql")
    admin = await asyncpg.connect(dsn.rsplit("/", 1)[0] + "/postgres")
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


async def run(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as temp:
        folder = Path(temp)
        url = (
            f"sqlite+aiosqlite:///{folder / 'bench.db'}" if args.db == "sqlite" else await pg_url()
        )
        # Alembic's env runs its own event loop: a thread of its own, not this loop.
        await asyncio.to_thread(upgrade_to_head, url)
        engine = create_engine(url)
        senders: list[TwilioRestSender] = []
        try:
            async with FakeTwilio(auth_token=AUTH_TOKEN) as fake:
                settings = make_settings(url, folder, fake)
                vault = Vault.from_settings(settings)

                def worker(worker_id: str) -> DeliveryWorker:
                    sender = sender_for(settings)
                    senders.append(sender)
                    return DeliveryWorker(
                        engine=engine,
                        vault=vault,
                        sender=sender,
                        clock=SystemClock(),
                        settings=settings,
                        metrics=Metrics(),
                        worker_id=worker_id,
                    )

                single = worker("bench-one")
                base = await baseline(senders[0], fake, args.rows)
                await insert_due(engine, vault, "one", args.rows)
                one = await drain(
                    "one worker", engine, [single], fake, prefix="one", count=args.rows
                )
                await insert_due(engine, vault, "two", args.rows)
                pair = [worker("bench-two-a"), worker("bench-two-b")]
                two = await drain("two workers", engine, pair, fake, prefix="two", count=args.rows)
        finally:
            for sender in senders:
                await sender.close()
            await engine.dispose()
            if args.db == "postgres":
                await drop_pg(url)
    phases = [base, one, two]
    return {
        "db": args.db,
        "rows": args.rows,
        "numbers": NUMBERS,
        "send_rate_per_number": SEND_RATE,
        "batch_size": BATCH_SIZE,
        "phases": [asdict(phase) for phase in phases],
        "ratio_one_worker": round(one.per_second / base.per_second, 3),
        "ratio_two_workers": round(two.per_second / base.per_second, 3),
        "double_sends": one.double_sends + two.double_sends,
        "complete": one.sent == args.rows and two.sent == args.rows,
        "python": platform.python_version(),
    }


def report(results: dict[str, Any]) -> None:
    print(
        f"{results['rows']} rows per run, {results['db']}, {results['numbers']} numbers, "
        f"batch {results['batch_size']}"
    )
    print(f"{'run':<36} {'sent':>6} {'seconds':>8} {'per s':>8} {'x base':>7} {'doubles':>8}")
    base = results["phases"][0]["per_second"]
    for phase in results["phases"]:
        ratio = phase["per_second"] / base if base else float("nan")
        print(
            f"{phase['name']:<36} {phase['sent']:>6} {phase['seconds']:>8.2f} "
            f"{phase['per_second']:>8.1f} {ratio:>6.2f}x {phase['double_sends']:>8}"
        )
    for phase in results["phases"][1:]:
        print(f"{phase['name']}: {phase['passes']} passes, outbox states {phase['states']}")
    if not results["complete"]:
        print("NOT COMPLETE: a run stopped at its bound before every row was sent")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    if args.rows < 1:
        parser.error("--rows must be at least 1")
    # The worker logs every send at INFO: quiet, or the log is the benchmark.
    configure_logging("json", level=logging.WARNING)
    results = asyncio.run(run(args))
    results["at"] = datetime.now(UTC).isoformat()
    report(results)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2))
    return 0 if results["complete"] and results["double_sends"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
