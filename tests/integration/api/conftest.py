"""The API over HTTP on the real app and database, with tokens for each role."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from gateway.db.engine import create_engine
from gateway.settings import Settings
from gateway.tokens import Role, create_token, revoke_token
from tests.support.clock import FixedClock

Client = TestClient[web.Request, web.Application]


async def issue_token(
    settings: Settings,
    now: datetime,
    *,
    role: Role,
    therapist_id: str | None = None,
    expires_at: datetime | None = None,
    revoked: bool = False,
) -> str:
    engine = create_engine(settings.database_url)
    try:
        async with engine.begin() as connection:
            secret, info = await create_token(
                connection,
                name=f"test {role} {therapist_id}",
                role=role,
                therapist_id=therapist_id,
                now=now,
                expires_at=expires_at,
                actor="test",
            )
            if revoked:
                await revoke_token(connection, info.id, now=now, actor="test")
    finally:
        await engine.dispose()
    return secret


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    json: Any
    text: str
    headers: Mapping[str, str]


class Api:
    """Calls /api/v1 as one token."""

    def __init__(self, client: Client, token: str | None) -> None:
        self.client = client
        self.token = token

    def as_token(self, token: str | None) -> Api:
        return Api(self.client, token)

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token is not None else {}

    async def call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        json: Any = None,
        data: bytes | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Answer:
        response = await self.client.request(
            method,
            "/api/v1" + path,
            params=params,
            json=json,
            data=data,
            headers={**self._headers(), **(headers or {})},
        )
        text = await response.text()
        is_json = response.content_type == "application/json"
        return Answer(
            response.status,
            await response.json() if is_json else None,
            text,
            dict(response.headers),
        )

    async def get(self, path: str, **params: str) -> Answer:
        return await self.call("GET", path, params=params)

    async def post(self, path: str, json: Any) -> Answer:
        return await self.call("POST", path, json=json)

    async def put(self, path: str, json: Any) -> Answer:
        return await self.call("PUT", path, json=json)

    async def delete(self, path: str) -> Answer:
        return await self.call("DELETE", path)


@dataclass(frozen=True, slots=True)
class Tokens:
    admin: str
    lee: str
    okafor: str


@pytest.fixture
async def tokens(imported: Settings, clock: FixedClock) -> Tokens:
    return Tokens(
        admin=await issue_token(imported, clock.at, role="admin"),
        lee=await issue_token(imported, clock.at, role="therapist", therapist_id="lee"),
        okafor=await issue_token(imported, clock.at, role="therapist", therapist_id="okafor"),
    )


@pytest.fixture
def admin(gateway: Client, tokens: Tokens) -> Api:
    return Api(gateway, tokens.admin)


@pytest.fixture
def lee(gateway: Client, tokens: Tokens) -> Api:
    return Api(gateway, tokens.lee)


@pytest.fixture
def okafor(gateway: Client, tokens: Tokens) -> Api:
    return Api(gateway, tokens.okafor)
