"""The SMS a claimed outbox row becomes, and the count of what became of each."""

from __future__ import annotations

from gateway.delivery.claim import Claim
from gateway.metrics import Metrics
from gateway.twilio.sender import OutboundSms
from gateway.vault import Vault


def outbound_sms(vault: Vault, claim: Claim, status_callback: str) -> OutboundSms:
    body = (
        vault.open("outbox", "body", claim.id, claim.body_enc) if claim.body_enc is not None else ""
    )
    return OutboundSms(
        from_number=claim.from_number,
        to_number=vault.open("outbox", "to", claim.id, claim.to_enc),
        body=body,
        status_callback=status_callback,
    )


def count_outcome(metrics: Metrics, claim: Claim, outcome: str) -> None:
    metrics.outbound.labels(claim.kind, outcome).inc()
