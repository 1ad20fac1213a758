"""deploy/compose.yaml, its Caddyfile and example.env: the services and wiring the README
describes, secrets only from the uncommitted deploy/.env."""

from __future__ import annotations

import re

import pytest

from tests.deploy.files import ALL_INTERFACES, DEPLOY, REPO, TMP, Document, load_one

COMPOSE = DEPLOY / "compose.yaml"
EXAMPLE_ENV = DEPLOY / "example.env"
CADDYFILE = DEPLOY / "Caddyfile"
GATEWAY_SERVICES = ("migrate", "web", "worker")
SECRETS = (
    "TWILIO_AUTH_TOKEN",
    "GATEWAY_ENCRYPTION_KEYS",
    "GATEWAY_INDEX_KEY",
    "GATEWAY_SESSION_SECRET",
    "POSTGRES_PASSWORD",
)


def services() -> dict[str, Document]:
    found: dict[str, Document] = load_one(COMPOSE)["services"]
    return found


def test_compose_has_postgres_migrate_web_worker_and_caddy() -> None:
    assert {"postgres", "migrate", "web", "worker", "caddy"} <= set(services())


def test_postgres_16_keeps_its_data_on_a_volume_and_reports_health() -> None:
    postgres = services()["postgres"]
    assert postgres["image"].startswith("postgres:16")
    assert any(mount.endswith(":/var/lib/postgresql/data") for mount in postgres["volumes"])
    assert "pg_isready" in " ".join(postgres["healthcheck"]["test"])
    assert "ports" not in postgres


def test_migrate_runs_once_when_postgres_is_healthy() -> None:
    migrate = services()["migrate"]
    assert migrate["command"] == ["migrate"]
    assert migrate["restart"] == "no"
    assert migrate["depends_on"]["postgres"]["condition"] == "service_healthy"


@pytest.mark.parametrize("name", ["web", "worker"])
def test_web_and_worker_start_after_a_successful_migration(name: str) -> None:
    depends = services()[name]["depends_on"]
    assert depends["migrate"]["condition"] == "service_completed_successfully"


def test_web_serves_without_the_worker_and_keeps_the_spool_on_a_volume() -> None:
    web = services()["web"]
    command = web["command"]
    assert command[0] == "serve"
    assert "--no-worker" in command
    assert command[command.index("--host") + 1] == ALL_INTERFACES
    assert any(mount.endswith(":/var/lib/gateway/spool") for mount in web["volumes"])


def test_worker_serves_its_health_where_the_image_health_check_looks() -> None:
    worker = services()["worker"]
    command = worker["command"]
    assert command[0] == "worker"
    assert command[command.index("--metrics-port") + 1] == "8080"
    # Only the container itself asks: the default host is 127.0.0.1.
    assert "--metrics-host" not in command
    assert "healthcheck" not in worker


@pytest.mark.parametrize("name", GATEWAY_SERVICES)
def test_gateway_containers_are_read_only_and_read_secrets_from_the_env_file(name: str) -> None:
    service = services()[name]
    assert service["read_only"] is True
    assert TMP in service["tmpfs"]
    assert service["cap_drop"] == ["ALL"]
    assert service["env_file"] == ".env"
    assert service["build"]["dockerfile"] == "deploy/Dockerfile"
    inline = service.get("environment", {})
    assert not set(SECRETS) & set(inline)
    database_url = inline["GATEWAY_DATABASE_URL"]
    assert database_url.startswith("postgresql+asyncpg://")
    assert "${POSTGRES_PASSWORD" in database_url


def test_named_volumes_are_declared() -> None:
    declared = set(load_one(COMPOSE)["volumes"])
    for service in services().values():
        for mount in service.get("volumes", []):
            source = mount.split(":")[0]
            if not source.startswith((".", "/", "$")):
                assert source in declared, mount


def test_caddy_terminates_tls_and_proxies_to_web() -> None:
    caddy = services()["caddy"]
    assert "443:443" in caddy["ports"]
    assert "./Caddyfile:/etc/caddy/Caddyfile:ro" in caddy["volumes"]
    caddyfile = CADDYFILE.read_text(encoding="utf-8")
    assert "reverse_proxy web:8080" in caddyfile
    assert "{$GATEWAY_HOSTNAME}" in caddyfile


def example_variables() -> dict[str, str]:
    """Each variable of example.env with the comment lines just above it."""
    found: dict[str, str] = {}
    comment: list[str] = []
    for line in EXAMPLE_ENV.read_text(encoding="utf-8").splitlines():
        if line.startswith("#"):
            comment.append(line)
        elif "=" in line:
            found[line.split("=", 1)[0]] = "\n".join(comment)
            comment = []
        else:
            comment = []
    return found


def test_example_env_explains_every_variable() -> None:
    variables = example_variables()
    for name, comment in variables.items():
        assert re.fullmatch(r"[A-Z][A-Z0-9_]*", name), name
        assert comment.strip(), f"{name} has no comment"


def test_example_env_has_every_secret_and_the_public_url_as_placeholders() -> None:
    variables = example_variables()
    for name in (*SECRETS, "TWILIO_ACCOUNT_SID", "GATEWAY_PUBLIC_URL", "GATEWAY_HOSTNAME"):
        assert name in variables
    text = EXAMPLE_ENV.read_text(encoding="utf-8")
    assert "GATEWAY_PUBLIC_URL=https://" in text
    assert "GATEWAY_ENV=production" in text


def test_the_real_env_file_is_ignored_by_git() -> None:
    ignored = REPO.joinpath(".gitignore").read_text(encoding="utf-8").splitlines()
    assert ".env" in ignored
