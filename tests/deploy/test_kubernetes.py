"""deploy/kubernetes: every manifest valid for Kubernetes 1.30 (offline, strict schemas), and
the properties the deployment relies on: replicas, probes, lock-down, secrets, network."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import kubernetes_validate  # type: ignore[import-untyped]  # ships no type hints
import pytest

from tests.deploy.files import (
    ALL_INTERFACES,
    KUBERNETES,
    KUSTOMIZATION,
    SECRET_EXAMPLE,
    TMP,
    Document,
    load_documents,
    load_one,
    manifest_files,
    manifests,
    only_container,
    parse_documents,
    pod_spec,
)

# The oldest Kubernetes the manifests support; kubernetes-validate ships its schemas, so the
# validation needs no network.
KUBERNETES_VERSION = "1.30.0"
SPOOL_DIR = "/var/lib/gateway/spool"
SECRET_NAME = "boundary-gateway-secrets"
WEB = "boundary-gateway-web"
WORKER = "boundary-gateway-worker"
MIGRATE = "boundary-gateway-migrate"


def validate(document: Document) -> None:
    try:
        kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)
    except kubernetes_validate.ValidationError as exc:
        path = ".".join(str(part) for part in exc.path)
        pytest.fail(f"{document['kind']}/{document['metadata']['name']}: {path}: {exc.message}")
    except (kubernetes_validate.SchemaNotFoundError, kubernetes_validate.InvalidSchemaError) as e:
        pytest.fail(f"{document['kind']}: no schema to validate it against: {e.message}")


def test_the_pinned_kubernetes_version_has_schemas_in_the_package() -> None:
    versions: list[str] = kubernetes_validate.utils.all_versions()
    assert KUBERNETES_VERSION in versions


@pytest.mark.parametrize("path", manifest_files(), ids=lambda path: path.name)
def test_manifest_validates_against_kubernetes_schemas(path: Path) -> None:
    documents = load_documents(path)
    assert documents
    for document in documents:
        validate(document)


def test_kustomization_lists_every_manifest_but_the_secret_example() -> None:
    resources = load_one(KUSTOMIZATION)["resources"]
    assert len(resources) == len(set(resources))
    listed = set(resources)
    on_disk = {path.name for path in manifest_files()} - {SECRET_EXAMPLE.name}
    assert listed == on_disk
    assert SECRET_EXAMPLE.name not in listed


def test_no_secret_is_committed_to_the_kustomization() -> None:
    for path in manifest_files():
        if path == SECRET_EXAMPLE:
            continue
        assert all(doc["kind"] != "Secret" for doc in load_documents(path)), path.name


def test_every_object_lives_in_the_gateway_namespace() -> None:
    namespace = load_one(KUSTOMIZATION)["namespace"]
    for path in manifest_files():
        for document in load_documents(path):
            if document["kind"] != "Namespace":
                assert document["metadata"]["namespace"] == namespace, path.name


def workloads() -> dict[str, Document]:
    return {**manifests("Deployment"), **manifests("Job")}


@pytest.mark.parametrize("name", [WEB, WORKER, MIGRATE])
def test_pod_runs_locked_down(name: str) -> None:
    workload = workloads()[name]
    pod = pod_spec(workload)
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] != 0
    assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
    assert pod["automountServiceAccountToken"] is False
    container = only_container(workload)
    security = container["securityContext"]
    assert security["runAsNonRoot"] is True
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"]["drop"] == ["ALL"]
    assert security["seccompProfile"]["type"] == "RuntimeDefault"
    resources = container["resources"]
    assert {"cpu", "memory"} <= set(resources["requests"])
    assert "memory" in resources["limits"]
    assert mounts(workload)[TMP] == {"emptyDir"}


@pytest.mark.parametrize("name", [WEB, WORKER, MIGRATE])
def test_pod_reads_settings_and_the_uncommitted_secret(name: str) -> None:
    sources = only_container(workloads()[name])["envFrom"]
    assert {"secretRef": {"name": SECRET_NAME}} in sources
    assert {"configMapRef": {"name": "boundary-gateway-config"}} in sources
    assert load_one(SECRET_EXAMPLE)["metadata"]["name"] == SECRET_NAME


def mounts(workload: Document) -> dict[str, set[str]]:
    """Mount path -> the kinds of volume behind it (emptyDir, persistentVolumeClaim, ...)."""
    volumes = {volume["name"]: volume for volume in pod_spec(workload).get("volumes", [])}
    return {
        mount["mountPath"]: set(volumes[mount["name"]]) - {"name"}
        for mount in only_container(workload).get("volumeMounts", [])
    }


def probe_path(container: Document, probe: str) -> str:
    path: str = container[probe]["httpGet"]["path"]
    return path


def test_web_runs_two_or_more_replicas_with_readiness_on_readyz_and_liveness_on_healthz() -> None:
    web = manifests("Deployment")[WEB]
    assert web["spec"]["replicas"] >= 2
    container = only_container(web)
    assert container["args"][:2] == ["serve", "--no-worker"]
    assert probe_path(container, "readinessProbe") == "/readyz"
    assert probe_path(container, "livenessProbe") == "/healthz"


def test_web_lets_in_flight_webhooks_finish_before_it_stops() -> None:
    web = manifests("Deployment")[WEB]
    container = only_container(web)
    sleep = container["lifecycle"]["preStop"]["exec"]["command"]
    assert sleep[0] == "sleep"
    # preStop, then the gateway's own 10 s shutdown timeout, inside the grace period.
    assert int(sleep[1]) + 10 < pod_spec(web)["terminationGracePeriodSeconds"]


def test_web_keeps_its_spool_on_a_volume_at_the_configured_path() -> None:
    web = manifests("Deployment")[WEB]
    assert mounts(web)[SPOOL_DIR] & {"emptyDir", "persistentVolumeClaim"}
    config = manifests("ConfigMap")["boundary-gateway-config"]["data"]
    assert config["GATEWAY_SPOOL_DIR"] == SPOOL_DIR


def test_worker_runs_two_or_more_replicas_of_gateway_worker() -> None:
    worker = manifests("Deployment")[WORKER]
    assert worker["spec"]["replicas"] >= 2
    args = only_container(worker)["args"]
    assert args[0] == "worker"
    assert pod_spec(worker)["terminationGracePeriodSeconds"] >= 20


def test_worker_is_probed_and_scraped_on_its_metrics_port() -> None:
    worker = manifests("Deployment")[WORKER]
    container = only_container(worker)
    args = container["args"]
    port = int(args[args.index("--metrics-port") + 1])
    # Probes come from the node: the server must listen beyond the pod's loopback.
    assert args[args.index("--metrics-host") + 1] == ALL_INTERFACES
    [declared] = container["ports"]
    assert (declared["name"], declared["containerPort"]) == ("metrics", port)
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}
    annotations = worker["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/port"] == str(port)
    assert annotations["prometheus.io/path"] == "/metrics"


def test_migrations_run_once_in_a_job_not_in_the_replicas() -> None:
    job = manifests("Job")[MIGRATE]
    assert only_container(job)["args"] == ["migrate"]
    assert pod_spec(job)["restartPolicy"] == "Never"
    for name in (WEB, WORKER):
        deployment = manifests("Deployment")[name]
        assert "initContainers" not in pod_spec(deployment)
        assert "migrate" not in only_container(deployment)["args"]


def test_the_autoscaler_keeps_at_least_two_web_pods() -> None:
    [hpa] = manifests("HorizontalPodAutoscaler").values()
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": WEB,
    }
    assert hpa["spec"]["minReplicas"] >= 2


def selects(selector: Document, workload: Document) -> bool:
    labels: dict[str, str] = workload["spec"]["template"]["metadata"]["labels"]
    wanted: dict[str, str] = selector["matchLabels"]
    return all(labels.get(key) == value for key, value in wanted.items())


def test_disruption_budgets_cover_web_and_worker() -> None:
    budgets = list(manifests("PodDisruptionBudget").values())
    for name in (WEB, WORKER):
        workload = manifests("Deployment")[name]
        assert any(selects(budget["spec"]["selector"], workload) for budget in budgets), name


def test_the_service_and_ingress_reach_web_over_tls_on_the_public_host() -> None:
    web = manifests("Deployment")[WEB]
    [service] = manifests("Service").values()
    assert selects({"matchLabels": service["spec"]["selector"]}, web)
    [ingress] = manifests("Ingress").values()
    [tls] = ingress["spec"]["tls"]
    [rule] = ingress["spec"]["rules"]
    public_url = manifests("ConfigMap")["boundary-gateway-config"]["data"]["GATEWAY_PUBLIC_URL"]
    assert urlsplit(public_url).scheme == "https"
    assert tls["hosts"] == [rule["host"]] == [urlsplit(public_url).hostname]
    paths = {path["path"] for path in rule["http"]["paths"]}
    assert "/twilio" in paths
    assert "/metrics" not in paths
    backends = {path["backend"]["service"]["name"] for path in rule["http"]["paths"]}
    assert backends == {service["metadata"]["name"]}


def egress_ports(policy: Document) -> set[tuple[int, str]]:
    ports = set()
    for rule in policy["spec"].get("egress", []):
        assert rule.get("ports"), "an egress rule without ports allows every port"
        ports |= {(port["port"], port.get("protocol", "TCP")) for port in rule["ports"]}
    return ports


def test_network_policy_allows_egress_only_to_postgres_dns_and_https() -> None:
    policies = list(manifests("NetworkPolicy").values())
    allowed = set().union(*(egress_ports(policy) for policy in policies))
    assert allowed == {(5432, "TCP"), (53, "UDP"), (53, "TCP"), (443, "TCP")}
    for name in (WEB, WORKER, MIGRATE):
        workload = workloads()[name]
        assert any(
            "Egress" in policy["spec"]["policyTypes"]
            and selects(policy["spec"]["podSelector"], workload)
            for policy in policies
        ), f"{name} has no egress policy"


def test_network_policy_admits_web_only_from_the_ingress_controller_namespace() -> None:
    policies = list(manifests("NetworkPolicy").values())
    sources: list[Any] = []
    for name in (WEB, WORKER, MIGRATE):
        workload = workloads()[name]
        governing = [
            policy
            for policy in policies
            if "Ingress" in policy["spec"]["policyTypes"]
            and selects(policy["spec"]["podSelector"], workload)
        ]
        assert governing, f"{name} is not isolated for ingress"
        rules = [rule for policy in governing for rule in policy["spec"].get("ingress", [])]
        if name != WEB:
            assert rules == [], f"{name} takes connections"
        sources += [source for rule in rules for source in rule["from"]]
    assert sources
    for source in sources:
        assert set(source) == {"namespaceSelector"}
        assert set(source["namespaceSelector"]["matchLabels"]) == {"kubernetes.io/metadata.name"}


def test_the_namespace_enforces_the_restricted_pod_security_standard() -> None:
    [namespace] = manifests("Namespace").values()
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl (with kustomize) not found")
def test_kustomize_builds_valid_manifests() -> None:
    result = subprocess.run(  # noqa: S603 - kubectl from PATH on a folder of this repository
        [str(shutil.which("kubectl")), "kustomize", str(KUBERNETES)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    documents = parse_documents(result.stdout)
    kinds = {doc["kind"] for doc in documents}
    assert "Secret" not in kinds
    for document in documents:
        validate(document)
    images = {
        container["image"]
        for document in documents
        if document["kind"] in ("Deployment", "Job")
        for container in document["spec"]["template"]["spec"]["containers"]
    }
    assert len(images) == 1
