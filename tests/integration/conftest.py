"""The real app over HTTP on a real database, with the example practice imported."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from sqlalchemy import select

from gateway.app import Deps, create_app
from gateway.db.engine import create_engine
from gateway.db.tables import Base
from gateway.import_command import run_import
from gateway.practice_file import parse_practice_file
from gateway.settings import Settings
from tests.conftest import REPO
from tests.support.clock import FixedClock

EXAMPLE = REPO / "examples" / "practice.toml"
# Tuesday 2026-12-01, 10:00 in New York: Dr. Lee is in hours.
TUESDAY_10AM_NY = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)

LEE_NUMBER = "+15550009999"
JORDAN = "+15557654321"  # c1001, Dr. Lee, DBT agreement
RILEY = "+15557654322"  # c1002, Dr. Lee
CASEY = "+15557654323"  # c2001, Sam Okafor, same practice number
STRANGER = "+15559990000"
LEE_OWN_PHONE = "+15551230001"

ClientFactory = Callable[..., Awaitable[TestClient[web.Request, web.Application]]]


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(TUESDAY_10AM_NY)


async def import_practice(settings: Settings, path: Path = EXAMPLE) -> None:
    await run_import(settings, parse_practice_file(path), prune=False)


@pytest.fixture
async def imported(settings: Settings) -> Settings:
    await import_practice(settings)
    return settings


def make_app(settings: Settings, clock: FixedClock, **deps: Any) -> web.Application:
    return create_app(settings, Deps(clock=clock, run_worker=False, **deps))


@pytest.fixture
async def gateway(
    imported: Settings, clock: FixedClock, aiohttp_client: ClientFactory
) -> TestClient[web.Request, web.Application]:
    return await aiohttp_client(make_app(imported, clock))


async def table_rows(settings: Settings, name: str) -> list[Any]:
    table = Base.metadata.tables[name]
    engine = create_engine(settings.database_url)
    try:
        async with engine.connect() as connection:
            return list((await connection.execute(select(table))).all())
    finally:
        await engine.dispose()
