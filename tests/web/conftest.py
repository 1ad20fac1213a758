"""The web pages on the real app and database, with the example practice imported and an
account for each kind of person."""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.cookies import SimpleCookie

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from argon2 import PasswordHasher
from multidict import CIMultiDictProxy

from gateway.db.engine import create_engine
from gateway.settings import Settings
from gateway.tokens import Role
from gateway.users import create_user
from tests.integration.conftest import (
    TUESDAY_10AM_NY,
    ClientFactory,
    import_practice,
    make_app,
)
from tests.support.clock import FixedClock

Client = TestClient[web.Request, web.Application]
PASSWORD = "correct horse battery staple"
LEE_EMAIL = "ana.lee@lakeside.example"
OKAFOR_EMAIL = "sam.okafor@lakeside.example"
ADMIN_EMAIL = "office@lakeside.example"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
_DRAFT = re.compile(r'name="draft" value="([^"]+)"')
_RANDOM = re.compile(r'name="(csrf_token|draft)" value="[^"]+"')


@functools.cache
def password_hash() -> str:
    """One cheap hash for every test account. Verifying follows the parameters stored in the
    hash, and the production ones take a third of a second here by design; the sign-in code
    under test is the same."""
    return PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1).hash(PASSWORD)


async def add_user(
    settings: Settings, clock: FixedClock, email: str, role: Role, therapist_id: str | None
) -> str:
    engine = create_engine(settings.database_url)
    try:
        async with engine.begin() as connection:
            user = await create_user(
                connection,
                email=email,
                password_hash=password_hash(),
                role=role,
                therapist_id=therapist_id,
                now=clock.now(),
                actor="test",
            )
    finally:
        await engine.dispose()
    return user.id


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(TUESDAY_10AM_NY)


@pytest.fixture
async def imported(settings: Settings) -> Settings:
    await import_practice(settings)
    return settings


@dataclass(frozen=True, slots=True)
class People:
    lee: str
    okafor: str
    admin: str


@pytest.fixture
async def people(imported: Settings, clock: FixedClock) -> People:
    return People(
        lee=await add_user(imported, clock, LEE_EMAIL, "therapist", "lee"),
        okafor=await add_user(imported, clock, OKAFOR_EMAIL, "therapist", "okafor"),
        admin=await add_user(imported, clock, ADMIN_EMAIL, "admin", None),
    )


@dataclass(frozen=True, slots=True)
class Page:
    status: int
    text: str
    headers: CIMultiDictProxy[str]

    @property
    def location(self) -> str | None:
        return self.headers.get("Location")

    @property
    def csrf(self) -> str:
        found = _CSRF.search(self.text)
        assert found is not None, "the page has no form with a CSRF token"
        return found[1]

    @property
    def draft(self) -> str:
        found = _DRAFT.search(self.text)
        assert found is not None, "the page has no reply form"
        return found[1]

    @property
    def content(self) -> str:
        """The text without its CSRF tokens and draft ids, whose random letters can spell
        words."""
        return _RANDOM.sub(r'name="\1" value=""', self.text)


@dataclass(slots=True)
class Browser:
    """Pages over HTTP, keeping cookies as a browser would on https (the test server speaks
    http, where a client drops Secure cookies)."""

    client: Client
    cookies: dict[str, str] = field(default_factory=dict)
    raw_set_cookies: list[str] = field(default_factory=list)

    def _remember(self, headers: CIMultiDictProxy[str]) -> None:
        for header in headers.getall("Set-Cookie", []):
            self.raw_set_cookies.append(header)
            for name, morsel in SimpleCookie(header).items():
                if morsel["expires"] or morsel["max-age"] == "0":
                    self.cookies.pop(name, None)
                else:
                    self.cookies[name] = morsel.value

    async def _call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        data: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Page:
        sent = dict(headers or {})
        if self.cookies:
            sent["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        async with self.client.request(
            method, path, headers=sent, params=params, data=data, allow_redirects=False
        ) as response:
            page = Page(response.status, await response.text(), response.headers)
        self.client.session.cookie_jar.clear()
        self._remember(page.headers)
        return page

    async def get(self, path: str, *, params: Mapping[str, str] | None = None) -> Page:
        return await self._call("GET", path, params=params)

    async def head(self, path: str) -> Page:
        return await self._call("HEAD", path)

    async def post(
        self,
        path: str,
        data: Mapping[str, str],
        *,
        csrf: str | None,
        headers: Mapping[str, str] | None = None,
    ) -> Page:
        fields = dict(data)
        if csrf is not None:
            fields["csrf_token"] = csrf
        return await self._call("POST", path, data=fields, headers=headers)

    async def sign_in(self, email: str, password: str = PASSWORD) -> Page:
        form = await self.get("/signin")
        return await self.post("/signin", {"email": email, "password": password}, csrf=form.csrf)

    async def form_token(self, path: str) -> str:
        return (await self.get(path)).csrf


@pytest.fixture
async def pages(
    imported: Settings, clock: FixedClock, people: People, aiohttp_client: ClientFactory
) -> Browser:
    return Browser(await aiohttp_client(make_app(imported, clock)))
