"""Prometheus metrics, one registry per app so tests and several apps never collide."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.inbound = Counter(
            "gateway_inbound_messages_total",
            "Inbound SMS by decision rule",
            ["rule"],
            registry=self.registry,
        )
        self.crisis = Counter(
            "gateway_crisis_messages_total", "Inbound SMS flagged crisis", registry=self.registry
        )
        self.signature_failures = Counter(
            "gateway_signature_failures_total",
            "Webhooks refused for their signature",
            registry=self.registry,
        )
        self.webhook_latency = Histogram(
            "gateway_webhook_seconds",
            "Time to answer an inbound SMS webhook",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
            registry=self.registry,
        )
        self.spooled = Counter(
            "gateway_spooled_messages_total",
            "Inbound SMS kept in the local spool",
            registry=self.registry,
        )
        self.outbound = Counter(
            "gateway_outbound_messages_total",
            "Outbound SMS by kind and outcome",
            ["kind", "outcome"],
            registry=self.registry,
        )
        self.outbox_pending = Gauge(
            "gateway_outbox_due",
            "Outbox rows due and not yet sent, or waiting to be tried again",
            registry=self.registry,
        )
        self.outbox_oldest_due = Gauge(
            "gateway_outbox_oldest_due_seconds",
            "How long the longest-waiting outbox row still to be sent has been due (0: none)",
            registry=self.registry,
        )
        self.spool_pending = Gauge(
            "gateway_spool_pending",
            "Inbound SMS in this process's local spool, waiting for the database",
            registry=self.registry,
        )
        self.config_version = Gauge(
            "gateway_config_version",
            "Configuration version loaded in memory",
            registry=self.registry,
        )
