"""Liveness, readiness and metrics."""

from __future__ import annotations

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from gateway.http.keys import RUNTIME

routes = web.RouteTableDef()


@routes.get("/healthz")
async def healthz(_: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


@routes.get("/readyz")
async def readyz(request: web.Request) -> web.Response:
    """Ready once configuration is in memory; the database's state is reported, never a
    reason to be unready, because crisis replies must keep flowing through an outage."""
    runtime = request.app[RUNTIME]
    directory = runtime.config.directory
    # Messages (or status callbacks) waiting in the spool mean writes fail, though the
    # database may still be read.
    spooled = runtime.spool.count()
    writes_wait = runtime.spool.waiting()
    body = {
        "ready": directory is not None,
        "config_version": directory.version if directory is not None else None,
        "practice": directory is not None and directory.practice is not None,
        "database": "ok" if runtime.config.database_ok and not writes_wait else "unavailable",
        "spooled": spooled,
        "dry_run": runtime.settings.dry_run,
    }
    return web.json_response(body, status=200 if directory is not None else 503)


@routes.get("/metrics")
async def metrics(request: web.Request) -> web.Response:
    runtime = request.app[RUNTIME]
    directory = runtime.config.directory
    if directory is not None:
        runtime.metrics.config_version.set(directory.version)
    response = web.Response(body=generate_latest(runtime.metrics.registry))
    response.headers["Content-Type"] = CONTENT_TYPE_LATEST
    return response
