"""The pure core stays pure: rules/ never reaches into the shell or I/O."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import REPO

FORBIDDEN_IMPORTS = {
    "gateway",
    "aiohttp",
    "sqlalchemy",
    "structlog",
    "twilio",
    "pydantic",
    "alembic",
    "asyncio",
}
FORBIDDEN_CALLS = {("datetime", "now"), ("datetime", "utcnow"), ("time", "time"), ("date", "today")}
FORBIDDEN_MODULES = {"os", "random", "secrets", "socket", "subprocess"}


def _rules_modules() -> list[Path]:
    return sorted((REPO / "rules").rglob("*.py"))


def test_rules_import_only_the_stdlib_and_pure_libraries() -> None:
    offences = []
    for path in _rules_modules():
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                top = name.split(".")[0]
                if top in FORBIDDEN_IMPORTS | FORBIDDEN_MODULES:
                    offences.append(f"{path.name}: imports {name}")
    assert offences == []


def test_rules_never_read_the_clock() -> None:
    offences = [
        f"{path.name}:{node.lineno}"
        for path in _rules_modules()
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and isinstance(node.func.value, ast.Name)
        and (node.func.value.id, node.func.attr) in FORBIDDEN_CALLS
    ]
    assert offences == []
