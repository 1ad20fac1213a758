"""The JSON API under /api/v1 for therapists and admins."""

from __future__ import annotations

from aiohttp import web

from gateway.http.api.auth import auth_middleware
from gateway.http.api.errors import error_middleware
from gateway.http.api.routes import add_routes


def setup_api(app: web.Application) -> None:
    """Add the API's routes and middlewares to the app.

    Both middlewares act on /api/v1 paths only. Errors come first so that everything after
    it, the token check included, answers JSON.
    """
    app.middlewares.extend([error_middleware, auth_middleware])
    add_routes(app)
