"""Typed request keys of the web pages."""

from __future__ import annotations

from typing import Final

from aiohttp import web

from gateway.web.sessions import WebSession

SESSION: Final = web.RequestKey("web_session", WebSession)
