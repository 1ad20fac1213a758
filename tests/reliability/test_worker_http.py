"""The worker's own `/healthz` and `/metrics` (gateway/worker_http.py), served only when a
metrics port is given."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path

import aiohttp
import pytest
from structlog.testing import capture_logs

from gateway.clock import SystemClock
from gateway.db.engine import create_engine
from gateway.db.tables import OutboxRow
from gateway.settings import Settings
from gateway.vault import Vault
from gateway.worker_command import run_worker_until_stopped
from tests.fakes.twilio_api import FakeTwilio
from tests.integration.delivery.queue import insert_rows, outbox, plain_row
from tests.reliability.conftest import has_backlog_gauges, twilio_settings
from tests.support.processes import HOST, Processes, free_port, gateway_environment


async def get(url: str) -> tuple[int, str]:
    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session,
        session.get(url) as response,
    ):
        return response.status, await response.text()


async def answers(url: str, seconds: float = 30) -> bool:
    for _ in range(int(seconds * 20)):
        with contextlib.suppress(aiohttp.ClientError, TimeoutError):
            if (await get(url))[0] == 200:
                return True
        await asyncio.sleep(0.05)
    return False


@asynccontextmanager
async def running_worker(
    settings: Settings, metrics_port: int | None
) -> AsyncIterator[asyncio.Task[None]]:
    stop = asyncio.Event()
    task = asyncio.create_task(
        run_worker_until_stopped(settings, stop, metrics_host=HOST, metrics_port=metrics_port)
    )
    try:
        yield task
    finally:
        stop.set()
        async with asyncio.timeout(30):
            await asyncio.gather(task, return_exceptions=True)


@pytest.fixture
def worker_settings(database_url: str, tmp_path: Path, wall_clock_fake: FakeTwilio) -> Settings:
    return twilio_settings(database_url, tmp_path, wall_clock_fake, GATEWAY_SEND_RATE=100)


async def test_the_worker_serves_health_and_its_own_metrics_on_the_port_given(
    worker_settings: Settings, wall_clock_fake: FakeTwilio
) -> None:
    port = free_port()
    engine = create_engine(worker_settings.database_url)
    vault = Vault.from_settings(worker_settings)
    try:
        async with running_worker(worker_settings, port):
            assert await answers(f"http://{HOST}:{port}/healthz")
            assert await get(f"http://{HOST}:{port}/healthz") == (200, '{"status": "ok"}')
            row = plain_row(
                vault, at=SystemClock().now() - timedelta(seconds=1), body="synthetic notice"
            )
            await insert_rows(engine, OutboxRow, [row])
            await wall_clock_fake.wait_for(1, timeout=30)
            # Counted once the worker has Twilio's answer, a moment after the fake has the SMS.
            sent = 'gateway_outbound_messages_total{kind="notice",outcome="sent"} 1.0'
            for _ in range(100):
                status, text = await get(f"http://{HOST}:{port}/metrics")
                if sent in text:
                    break
                await asyncio.sleep(0.05)
            assert status == 200
            assert sent in text
            assert "gateway_outbox_due " in text
            assert "synthetic" not in text
        # Stopped with the worker, after its claims were given back.
        with pytest.raises(aiohttp.ClientError):
            await get(f"http://{HOST}:{port}/healthz")
        assert (await outbox(engine))[row["id"]].state == "sent"
    finally:
        await engine.dispose()


async def test_without_a_metrics_port_the_worker_listens_on_nothing(
    worker_settings: Settings,
) -> None:
    with capture_logs() as logs:
        async with running_worker(worker_settings, None):
            await asyncio.sleep(0.5)
    events = [entry["event"] for entry in logs]
    assert "worker_running" in events
    assert "worker_http_listening" not in events


async def test_a_metrics_port_in_use_stops_the_worker_before_it_claims_anything(
    worker_settings: Settings, wall_clock_fake: FakeTwilio
) -> None:
    engine = create_engine(worker_settings.database_url)
    vault = Vault.from_settings(worker_settings)
    row = plain_row(vault, at=SystemClock().now() - timedelta(seconds=1), body="synthetic notice")
    try:
        await insert_rows(engine, OutboxRow, [row])
        with socket.socket() as taken:
            taken.bind((HOST, 0))
            taken.listen()
            async with running_worker(worker_settings, taken.getsockname()[1]) as task:
                with pytest.raises(OSError, match="in use"):
                    await asyncio.wait_for(task, 30)
        assert (await outbox(engine))[row["id"]].state == "pending"
        assert wall_clock_fake.post_attempts == 0
    finally:
        await engine.dispose()


@pytest.mark.slow
async def test_gateway_worker_metrics_port_from_the_command_line(
    worker_settings: Settings, tmp_path: Path
) -> None:
    port = free_port()
    async with Processes(tmp_path, gateway_environment(worker_settings)) as processes:
        if "--metrics-port" not in (await processes.run("worker", "--help")).stdout:
            pytest.skip("`gateway worker --metrics-port` is not wired into gateway/cli.py yet")
        worker = await processes.worker("worker", "--metrics-port", str(port))
        assert await answers(f"http://{HOST}:{port}/healthz")
        status, text = await get(f"http://{HOST}:{port}/metrics")
        assert status == 200
        assert "gateway_outbox_due " in text
        if has_backlog_gauges():
            assert "gateway_outbox_oldest_due_seconds 0.0" in text
        assert await worker.stop() == 0


@pytest.mark.skipif(
    not has_backlog_gauges(), reason="gateway_spool_pending and ..._oldest_due_seconds not added"
)
async def test_the_backlog_gauges_show_how_long_the_oldest_due_row_has_waited(
    worker_settings: Settings,
) -> None:
    port = free_port()
    engine = create_engine(worker_settings.database_url)
    vault = Vault.from_settings(worker_settings)
    now = SystemClock().now()
    # Due five minutes ago and still leased to a worker that died: nobody can send it yet.
    row = plain_row(vault, at=now - timedelta(minutes=5), body="synthetic notice")
    row.update(state="claimed", claimed_by="dead", lease_until=now + timedelta(minutes=1))
    try:
        await insert_rows(engine, OutboxRow, [row])
        async with running_worker(worker_settings, port):
            assert await answers(f"http://{HOST}:{port}/healthz")
            for _ in range(100):
                _, text = await get(f"http://{HOST}:{port}/metrics")
                if "gateway_outbox_due 1.0" in text:
                    break
                await asyncio.sleep(0.1)
        gauges = dict(
            line.split(" ", 1) for line in text.splitlines() if line.startswith("gateway_")
        )
        assert float(gauges["gateway_outbox_due"]) == 1.0
        assert 300 <= float(gauges["gateway_outbox_oldest_due_seconds"]) < 360
        # A worker has no spool: the web processes report theirs.
        assert float(gauges["gateway_spool_pending"]) == 0.0
    finally:
        await engine.dispose()
