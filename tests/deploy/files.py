"""The deploy/ files, read as data for the tests beside this module."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import yaml  # type: ignore[import-untyped]  # PyYAML ships no type hints; stubs are not a dependency

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
KUBERNETES = DEPLOY / "kubernetes"
KUSTOMIZATION = KUBERNETES / "kustomization.yaml"
SECRET_EXAMPLE = KUBERNETES / "secret.example.yaml"

Document = dict[str, Any]

# Values the deploy files must hold; here they are expected strings, not a bind or a temp file.
ALL_INTERFACES = "0.0.0.0"  # noqa: S104 - what `--host` must say inside a container
TMP = "/tmp"  # noqa: S108 - the mount path of the writable /tmp volume


# libyaml's loader where PyYAML was built with it: several times faster.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def parse_documents(text: str) -> list[Document]:
    """Every non-empty YAML document of a text, each a mapping."""
    documents = [doc for doc in yaml.load_all(text, Loader=_LOADER) if doc]
    for document in documents:
        assert isinstance(document, dict), "a YAML document is not a mapping"
    return documents


@cache
def load_documents(path: Path) -> list[Document]:
    """Every non-empty YAML document of a file, each a mapping (shared: do not change them)."""
    return parse_documents(path.read_text(encoding="utf-8"))


def load_one(path: Path) -> Document:
    [document] = load_documents(path)
    return document


def manifest_files() -> list[Path]:
    """The Kubernetes manifests in deploy/kubernetes: every YAML file but the kustomization."""
    return sorted(path for path in KUBERNETES.glob("*.yaml") if path != KUSTOMIZATION)


def manifests(kind: str) -> dict[str, Document]:
    """The manifests of one kind in deploy/kubernetes, by name."""
    found: dict[str, Document] = {}
    for path in manifest_files():
        for document in load_documents(path):
            if document["kind"] == kind:
                found[document["metadata"]["name"]] = document
    return found


def pod_spec(workload: Document) -> Document:
    spec: Document = workload["spec"]["template"]["spec"]
    return spec


def only_container(workload: Document) -> Document:
    [container] = pod_spec(workload)["containers"]
    assert isinstance(container, dict)
    return container
