"""Keeps this process's Directory current by polling the configuration version."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import structlog
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.config_snapshot import load_snapshot, save_snapshot
from gateway.crypto import DecryptionError, IndexKeyMismatchError
from gateway.db.engine import reader
from gateway.directory import Directory, build_directory
from gateway.practice_config import load_config, read_config_version
from gateway.vault import Vault

log = structlog.get_logger(__name__)


def database_key(engine: AsyncEngine) -> str:
    """What a snapshot is bound to: the database it was read from."""
    return engine.url.render_as_string(hide_password=True)


async def write_snapshot(engine: AsyncEngine, vault: Vault, path: Path) -> bool:
    """Save the configuration as stored now (after an import), so that a gateway whose first
    start falls in a database outage answers from it. False when it could not be written."""
    try:
        async with reader(engine).connect() as connection:
            config = await load_config(connection, vault)
        await asyncio.to_thread(
            save_snapshot, path, vault.keys, config, database=database_key(engine)
        )
    except (SQLAlchemyError, OSError) as exc:
        log.warning("config_snapshot_not_written", error_type=type(exc).__name__)
        return False
    return True


class ConfigCache:
    def __init__(
        self, engine: AsyncEngine, vault: Vault, interval: float, snapshot: Path | None = None
    ) -> None:
        self._engine = reader(engine)
        self._vault = vault
        self._interval = interval
        self._snapshot = snapshot
        self._database = database_key(engine)
        self._directory: Directory | None = None
        self._task: asyncio.Task[None] | None = None
        self.database_ok = False

    @property
    def directory(self) -> Directory | None:
        """The latest snapshot, None until the first successful load."""
        return self._directory

    async def refresh(self) -> bool:
        """Reload when the version changed; False when the database could not be read."""
        try:
            async with self._engine.connect() as connection:
                version = await read_config_version(connection)
                if self._directory is None or version != self._directory.version:
                    config = await load_config(connection, self._vault)
                    self._directory = build_directory(config, self._vault)
                    log.info("config_loaded", version=config.version)
                    if self._snapshot is not None:
                        await asyncio.to_thread(
                            save_snapshot,
                            self._snapshot,
                            self._vault.keys,
                            config,
                            database=self._database,
                        )
        except (SQLAlchemyError, OSError) as exc:
            if self.database_ok or self._directory is None:
                log.warning("config_refresh_failed", error_type=type(exc).__name__)
            self.database_ok = False
            return False
        self.database_ok = True
        return True

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            try:
                await self.refresh()
            except (DecryptionError, IndexKeyMismatchError) as exc:
                # Keys changed under a running process: keep serving what was loaded.
                log.error("config_refresh_refused", error_type=type(exc).__name__)

    async def start(self) -> None:
        if not await self.refresh() and self._snapshot is not None:
            config = load_snapshot(self._snapshot, self._vault.keys, database=self._database)
            if config is not None:
                self._directory = build_directory(config, self._vault)
                log.warning("config_loaded_from_snapshot", version=config.version)
        self._task = asyncio.create_task(self._poll(), name="config-refresh")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
