"""Real `gateway serve` and `gateway worker` processes for tests, on 127.0.0.1 free ports.

    env = gateway_environment(settings, TWILIO_ACCOUNT_SID=fake.account_sid, ...)
    async with Processes(tmp_path, env) as processes:
        web = await processes.serve(worker=False)
        worker = await processes.worker()
        ...
        assert await worker.stop() == 0

Each process logs JSON to its own file (never a pipe, which would fill up and block it) and
runs in the test's temporary folder, so no developer `.env` is read. Whatever a test leaves
running is killed when the `Processes` block ends.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Self

import aiohttp

from gateway.settings import Settings
from tests.conftest import REPO

HOST = "127.0.0.1"
# Four replicas compiling the crisis lexicon at once on a loaded 2-core machine took over 30 s.
STARTUP_SECONDS = 90.0
STOP_SECONDS = 30.0
_POLL_SECONDS = 0.05


def free_port() -> int:
    """A port nobody listens on right now (the process binds it a moment later)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
        return port


def gateway_environment(settings: Settings, **extra: str) -> dict[str, str]:
    """The environment that gives a child process these settings (and `extra` on top)."""
    values = {
        "GATEWAY_ENV": settings.env,
        "GATEWAY_DATABASE_URL": settings.database_url,
        "GATEWAY_PUBLIC_URL": settings.public_url,
        "GATEWAY_ENCRYPTION_KEYS": settings.secret("encryption_keys"),
        "GATEWAY_INDEX_KEY": settings.secret("index_key"),
        "GATEWAY_SESSION_SECRET": settings.secret("session"),
        "GATEWAY_SPOOL_DIR": str(settings.spool_dir),
        "GATEWAY_SEND_RATE": str(settings.send_rate),
        "GATEWAY_TWILIO_API_URL": settings.twilio_api_url,
        "GATEWAY_TWILIO_TIMEOUT": str(settings.twilio_timeout_seconds),
        "GATEWAY_CONFIG_REFRESH_SECONDS": str(settings.config_refresh_seconds),
        "GATEWAY_LOG_FORMAT": "json",
        "TWILIO_AUTH_TOKEN": settings.secret("auth_token"),
    }
    if settings.twilio_account_sid is not None:
        values["TWILIO_ACCOUNT_SID"] = settings.twilio_account_sid
    keep = {name: value for name, value in os.environ.items() if name in ("PATH", "HOME", "LANG")}
    return {**keep, "PYTHONPATH": str(REPO), **values, **extra}


@dataclass(frozen=True, slots=True)
class Finished:
    returncode: int
    stdout: str
    stderr: str


class GatewayProcess:
    """One running `gateway` command."""

    def __init__(
        self, name: str, process: asyncio.subprocess.Process, log_path: Path, port: int | None
    ) -> None:
        self.name = name
        self.process = process
        self.log_path = log_path
        self.port = port

    @property
    def url(self) -> str:
        if self.port is None:
            raise RuntimeError(f"{self.name} listens on no port")
        return f"http://{HOST}:{self.port}"

    @property
    def running(self) -> bool:
        return self.process.returncode is None

    def logs(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    async def wait_for_log(self, event: str, timeout: float = STARTUP_SECONDS) -> None:  # noqa: ASYNC109 - one bound for callers
        deadline = time.monotonic() + timeout
        while f'"{event}"' not in self.logs():
            if not self.running:
                raise AssertionError(f"{self.name} exited before {event}:\n{self.logs()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.name} did not log {event} in {timeout}s")
            await asyncio.sleep(_POLL_SECONDS)

    async def wait_until_ready(self, path: str, timeout: float = STARTUP_SECONDS) -> None:  # noqa: ASYNC109 - one bound for callers
        """Until GET `path` answers 200."""
        deadline = time.monotonic() + timeout
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as session:
            while True:
                if not self.running:
                    raise AssertionError(f"{self.name} exited before it was ready:\n{self.logs()}")
                try:
                    async with session.get(self.url + path) as response:
                        if response.status == 200:
                            return
                except (aiohttp.ClientError, TimeoutError):
                    pass
                if time.monotonic() > deadline:
                    raise AssertionError(f"{self.name} was not ready in {timeout}s")
                await asyncio.sleep(_POLL_SECONDS)

    async def stop(self, timeout: float = STOP_SECONDS) -> int:  # noqa: ASYNC109 - one bound for callers
        """SIGTERM, as an orchestrator stops a replica; its exit code (killed after `timeout`)."""
        if self.running:
            self.process.send_signal(signal.SIGTERM)
        try:
            return await asyncio.wait_for(self.process.wait(), timeout)
        except TimeoutError:
            await self.kill()
            raise AssertionError(f"{self.name} did not stop within {timeout}s") from None

    async def kill(self) -> None:
        """SIGKILL: the process gets no chance to tidy up."""
        if self.running:
            self.process.kill()
        await self.process.wait()


class Processes:
    """Starts gateway processes in `folder` with `env`, and kills the ones left at the end."""

    def __init__(self, folder: Path, env: Mapping[str, str]) -> None:
        self.folder = folder
        self.env = dict(env)
        self._started: list[GatewayProcess] = []
        self._log_files: list[IO[bytes]] = []

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        for started in self._started:
            await started.kill()
        for handle in self._log_files:
            handle.close()

    def logs(self) -> str:
        """Everything every process started here has logged so far."""
        return "\n".join(started.logs() for started in self._started)

    async def start(self, name: str, *args: str, port: int | None = None) -> GatewayProcess:
        """`gateway ARGS...` in the background; not yet waited for."""
        log_path = self.folder / f"{name}.log"
        # Opened by the test, written by the child: closed when the block ends.
        log_file = log_path.open("wb")
        self._log_files.append(log_file)
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "gateway",
            *args,
            cwd=self.folder,
            env=self.env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=log_file,
            stderr=asyncio.subprocess.STDOUT,
        )
        started = GatewayProcess(name, process, log_path, port)
        self._started.append(started)
        return started

    async def serve(self, name: str = "web", *, worker: bool = False) -> GatewayProcess:
        """`gateway serve` on a free port, once it answers /readyz (configuration loaded)."""
        port = free_port()
        args = ["serve", "--host", HOST, "--port", str(port)]
        if not worker:
            args.append("--no-worker")
        started = await self.start(name, *args, port=port)
        await started.wait_until_ready("/readyz")
        return started

    async def worker(self, name: str = "worker", *args: str) -> GatewayProcess:
        """`gateway worker ARGS...`, once its delivery loop runs."""
        started = await self.start(name, "worker", *args)
        await started.wait_for_log("worker_running")
        return started

    async def run(self, *args: str, timeout: float = 60.0) -> Finished:  # noqa: ASYNC109 - one bound for callers
        """`gateway ARGS...` to the end, such as `audit verify`."""
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "gateway",
            *args,
            cwd=self.folder,
            env=self.env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            out, err = await asyncio.wait_for(process.communicate(), timeout)
        except TimeoutError:
            process.kill()
            await process.wait()
            raise AssertionError(f"gateway {' '.join(args)} did not finish in {timeout}s") from None
        assert process.returncode is not None
        return Finished(process.returncode, out.decode(), err.decode())
