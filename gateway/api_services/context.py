"""What every API use case works with, taken from the running gateway."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.api_services.errors import UnavailableError
from gateway.clock import Clock
from gateway.config_cache import ConfigCache
from gateway.directory import Directory
from gateway.vault import Vault


@dataclass(frozen=True, slots=True)
class ApiContext:
    engine: AsyncEngine
    vault: Vault
    config: ConfigCache
    clock: Clock

    def directory(self) -> Directory:
        """The practice's configuration in memory, as the webhook sees it."""
        directory = self.config.directory
        if directory is None or directory.practice is None:
            raise UnavailableError("no practice has been imported yet")
        return directory

    async def configuration_changed(self) -> None:
        """Reload this process's configuration now; other processes poll for it."""
        await self.config.refresh()
