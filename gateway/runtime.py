"""Everything a running gateway process holds, built once by the composition root."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.clock import Clock
from gateway.config_cache import ConfigCache
from gateway.inbound import InboundService
from gateway.metrics import Metrics
from gateway.settings import Settings
from gateway.spool import Spool
from gateway.twilio.signature import SignatureChecker
from gateway.vault import Vault
from gateway.writer import GroupWriter


@dataclass(slots=True)
class Runtime:
    settings: Settings
    clock: Clock
    metrics: Metrics
    vault: Vault
    engine: AsyncEngine
    config: ConfigCache
    signatures: SignatureChecker
    writer: GroupWriter
    spool: Spool
    inbound: InboundService
