"""The worker process's own small HTTP server: `/healthz` for its liveness probe and
`/metrics` for Prometheus. A worker takes no webhooks, so this is all it serves; it reads
neither the database nor any message, and so answers even while the database is away."""

from __future__ import annotations

from typing import Final

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from gateway.metrics import Metrics

METRICS: Final = web.AppKey("metrics", Metrics)
DEFAULT_HOST: Final = "127.0.0.1"


async def _healthz(_: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def _metrics(request: web.Request) -> web.Response:
    response = web.Response(body=generate_latest(request.app[METRICS].registry))
    response.headers["Content-Type"] = CONTENT_TYPE_LATEST
    return response


def worker_http_app(metrics: Metrics) -> web.Application:
    app = web.Application()
    app[METRICS] = metrics
    app.router.add_get("/healthz", _healthz)
    app.router.add_get("/metrics", _metrics)
    return app


class WorkerHttpServer:
    """Serves `worker_http_app` on host:port between `start()` and `stop()`."""

    def __init__(self, metrics: Metrics, *, host: str = DEFAULT_HOST, port: int) -> None:
        self._app = worker_http_app(metrics)
        self._host = host
        self._port = port
        self._runner: web.AppRunner | None = None

    @property
    def port(self) -> int:
        """The bound port (the one asked for, or the one the system chose for 0)."""
        if self._runner is None or not self._runner.addresses:
            raise RuntimeError("the worker's HTTP server is not running")
        port: int = self._runner.addresses[0][1]
        return port

    async def start(self) -> None:
        # No access log: Prometheus scrapes every few seconds and the lines would say nothing.
        runner = web.AppRunner(self._app, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        try:
            await web.TCPSite(runner, self._host, self._port).start()
        except OSError:
            await runner.cleanup()
            raise
        self._runner = runner

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
