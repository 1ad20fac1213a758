"""deploy/prometheus-alerts.yaml: well-formed rules that name only metrics the gateway has."""

from __future__ import annotations

import re

from tests.deploy.files import DEPLOY, REPO, Document, load_one

ALERTS = DEPLOY / "prometheus-alerts.yaml"
METRICS_SOURCE = REPO / "gateway" / "metrics.py"
HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")


def rules() -> list[Document]:
    return [rule for group in load_one(ALERTS)["groups"] for rule in group["rules"]]


def declared_metrics() -> set[str]:
    """Metric names declared in gateway/metrics.py, with the series a histogram adds."""
    names = set(re.findall(r'"(gateway_[a-z0-9_]+)"', METRICS_SOURCE.read_text(encoding="utf-8")))
    return names | {name + suffix for name in names for suffix in HISTOGRAM_SUFFIXES}


def test_every_rule_is_an_alert_with_a_severity_and_a_summary() -> None:
    found = rules()
    assert found
    names = [rule["alert"] for rule in found]
    assert len(names) == len(set(names))
    for rule in found:
        assert rule["expr"].strip(), rule["alert"]
        assert rule["labels"]["severity"] in {"critical", "warning"}, rule["alert"]
        assert rule["annotations"]["summary"].strip(), rule["alert"]


def test_alerts_name_only_metrics_the_gateway_exports() -> None:
    known = declared_metrics()
    for rule in rules():
        for metric in re.findall(r"\bgateway_[a-z0-9_]+", rule["expr"]):
            assert metric in known, f"{rule['alert']}: {metric} is not in gateway/metrics.py"


def test_alerts_cover_crisis_alerts_outbox_signatures_spool_and_readiness() -> None:
    expressions = "\n".join(rule["expr"] for rule in rules())
    for needed in (
        'gateway_outbound_messages_total{kind="alert"',
        "gateway_crisis_messages_total",
        "gateway_outbox_due",
        "gateway_signature_failures_total",
        "gateway_spooled_messages_total",
        "gateway_webhook_seconds_bucket",
        "kube_deployment_status_replicas_available",
    ):
        assert needed in expressions, needed
