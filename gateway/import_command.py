"""`gateway import`: one transaction for the whole file."""

from __future__ import annotations

from gateway.clock import SystemClock
from gateway.config_cache import write_snapshot
from gateway.config_snapshot import snapshot_path
from gateway.db.engine import create_engine
from gateway.importer import Importer, ImportSummary
from gateway.practice_file import PracticeFile
from gateway.settings import Settings
from gateway.vault import Vault


async def run_import(settings: Settings, file: PracticeFile, *, prune: bool) -> ImportSummary:
    vault = Vault.from_settings(settings)
    engine = create_engine(settings.database_url)
    try:
        async with engine.begin() as connection:
            importer = Importer(connection, vault, SystemClock().now(), actor="cli:import")
            summary = await importer.apply(file, prune=prune)
        # Also when nothing changed: the first `gateway serve` may start during an outage.
        await write_snapshot(engine, vault, snapshot_path(settings.spool_dir))
        return summary
    finally:
        await engine.dispose()
