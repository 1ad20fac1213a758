"""Shared fixtures: real databases (SQLite files and, when configured, PostgreSQL)."""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import structlog
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.crypto import new_key
from gateway.db.engine import create_engine
from gateway.db.tables import Base
from gateway.migrate import upgrade_to_head
from gateway.settings import Settings

POSTGRES_ENV = "GATEWAY_TEST_POSTGRES_URL"
AUTH_TOKEN = "0123456789abcdef0123456789abcdef"
REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """No test reads the developer's .env or environment, and structlog starts clean."""
    for name in list(os.environ):
        if name.startswith(("GATEWAY_", "TWILIO_")) and name != POSTGRES_ENV:
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    structlog.reset_defaults()
    yield
    structlog.reset_defaults()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file, copied for each test (migrating per test would be slow)."""
    path = tmp_path_factory.mktemp("template") / "template.db"
    upgrade_to_head(f"sqlite+aiosqlite:///{path}")
    return path


def _admin_url(url: str) -> str:
    return make_url(url).set(database="postgres").render_as_string(hide_password=False)


async def _execute_autocommit(url: str, statement: str) -> None:
    engine = create_engine(url).execution_options(isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as connection:
            await connection.execute(text(statement))
    finally:
        await engine.dispose()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh database for this run, migrated once and dropped at the end."""
    base = os.environ.get(POSTGRES_ENV)
    if not base:
        pytest.skip(f"{POSTGRES_ENV} is not set")
    name = f"gateway_test_{uuid.uuid4().hex[:12]}"
    asyncio.run(_execute_autocommit(_admin_url(base), f'CREATE DATABASE "{name}"'))
    url = make_url(base).set(database=name).render_as_string(hide_password=False)
    try:
        upgrade_to_head(url)
        yield url
    finally:
        asyncio.run(
            _execute_autocommit(_admin_url(base), f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        )


async def _truncate_postgres(url: str) -> None:
    tables = ", ".join(f'"{table.name}"' for table in Base.metadata.sorted_tables)
    engine = create_engine(url)
    try:
        async with engine.begin() as connection:
            await connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    finally:
        await engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path) -> str:
    if request.param == "sqlite":
        path = tmp_path / "gateway.db"
        shutil.copyfile(sqlite_template, path)
        return f"sqlite+aiosqlite:///{path}"
    url: str = request.getfixturevalue("postgres_url")
    asyncio.run(_truncate_postgres(url))
    return url


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return make_settings(database_url, tmp_path)


def make_settings(database_url: str, tmp_path: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "GATEWAY_DATABASE_URL": database_url,
        "GATEWAY_PUBLIC_URL": "https://gateway.example.test",
        "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "GATEWAY_ENCRYPTION_KEYS": new_key(),
        "GATEWAY_INDEX_KEY": new_key(),
        "GATEWAY_SESSION_SECRET": uuid.uuid4().hex,
        "GATEWAY_SPOOL_DIR": tmp_path / "spool",
        "GATEWAY_CONFIG_REFRESH_SECONDS": 0.2,
    }
    values.update(overrides)
    # model_validate reads neither the environment nor .env: tests see only these values.
    return Settings.model_validate(values)


@pytest.fixture
async def engine(settings: Settings) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(settings.database_url)
    yield engine
    await engine.dispose()
