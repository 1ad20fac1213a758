"""The cookies the pages set: Secure, HttpOnly and SameSite=Lax, with the __Host- prefix so
that no other host or path can plant one."""

from __future__ import annotations

from typing import Final

from aiohttp import web

SESSION_COOKIE: Final = "__Host-gateway_session"
SIGNIN_COOKIE: Final = "__Host-gateway_signin"


def set_cookie(response: web.StreamResponse, name: str, value: str) -> None:
    # Lax, not Strict: a link to the gateway from an email must open signed in; every change
    # is a POST, which Lax never sends cross-site, and the CSRF token guards it besides.
    response.set_cookie(name, value, path="/", secure=True, httponly=True, samesite="Lax")


def clear_cookie(response: web.StreamResponse, name: str) -> None:
    response.del_cookie(name, path="/", secure=True, httponly=True, samesite="Lax")
