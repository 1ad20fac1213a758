"""`gateway worker` as its own process: sends what is due, stops cleanly on SIGTERM."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.db.tables import OutboxRow
from gateway.settings import Settings
from gateway.vault import Vault
from tests.conftest import REPO
from tests.fakes.twilio_api import FakeTwilio
from tests.integration.delivery.queue import insert_rows, outbox, plain_row

# The child reads the wall clock: a row due long ago is due for it.
LONG_AGO = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
PROGRAM = (
    "from gateway.logs import configure_logging\n"
    "from gateway.settings import load_settings\n"
    "from gateway.worker_command import run_worker\n"
    "configure_logging('json')\n"
    "run_worker(load_settings())\n"
)


def environment(settings: Settings, fake: FakeTwilio) -> dict[str, str]:
    values = {
        "GATEWAY_DATABASE_URL": settings.database_url,
        "GATEWAY_PUBLIC_URL": settings.public_url,
        "GATEWAY_ENCRYPTION_KEYS": settings.secret("encryption_keys"),
        "GATEWAY_INDEX_KEY": settings.secret("index_key"),
        "GATEWAY_SESSION_SECRET": settings.secret("session"),
        "GATEWAY_SPOOL_DIR": str(settings.spool_dir),
        "TWILIO_AUTH_TOKEN": settings.secret("auth_token"),
        "TWILIO_ACCOUNT_SID": fake.account_sid,
        "GATEWAY_TWILIO_API_URL": fake.url,
    }
    keep = {name: value for name, value in os.environ.items() if name in ("PATH", "HOME")}
    return {**keep, "PYTHONPATH": str(REPO), **values}


@pytest.mark.slow
async def test_the_worker_process_sends_and_stops_on_sigterm(
    db: AsyncEngine, vault: Vault, fake: FakeTwilio, dsettings: Settings, tmp_path: Path
) -> None:
    row = plain_row(vault, at=LONG_AGO, body="a synthetic notice")
    await insert_rows(db, OutboxRow, [row])
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        PROGRAM,
        cwd=tmp_path,
        env=environment(dsettings, fake),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        await fake.wait_for(1, timeout=30)
        process.send_signal(signal.SIGTERM)
        out, err = await asyncio.wait_for(process.communicate(), timeout=30)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()

    assert process.returncode == 0, err.decode()
    assert len(fake.messages) == 1
    assert (await outbox(db))[row["id"]].state == "sent"
    logs = out.decode() + err.decode()
    assert "delivery_stopped" in logs
    assert "+1555" not in logs
    assert "synthetic notice" not in logs
