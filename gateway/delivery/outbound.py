"""What the delivery worker's parts share: where rows live, how they are opened, sent and
counted, and this worker's claim terms."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.delivery.claim import Claim
from gateway.metrics import Metrics
from gateway.twilio.sender import OutboundSms, SmsSender
from gateway.vault import Vault


@dataclass(frozen=True, slots=True)
class Outbound:
    engine: AsyncEngine
    vault: Vault
    sender: SmsSender
    metrics: Metrics
    worker_id: str
    lease: timedelta
    # Between two sends from one practice number (GATEWAY_SEND_RATE).
    interval: timedelta
    status_callback: str

    def sms(self, claim: Claim) -> OutboundSms:
        """The SMS a claimed outbox row becomes."""
        vault = self.vault
        body = (
            vault.open("outbox", "body", claim.id, claim.body_enc)
            if claim.body_enc is not None
            else ""
        )
        return OutboundSms(
            from_number=claim.from_number,
            to_number=vault.open("outbox", "to", claim.id, claim.to_enc),
            body=body,
            status_callback=self.status_callback,
        )

    def count(self, claim: Claim, outcome: str) -> None:
        self.metrics.outbound.labels(claim.kind, outcome).inc()
