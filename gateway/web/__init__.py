"""Server-rendered pages for therapists and admins, on the same app as the webhooks and the
API, built on the API's use cases and roles."""

from __future__ import annotations

from pathlib import Path
from typing import Final

import aiohttp_jinja2
import jinja2
from aiohttp import web

from gateway.web.middleware import page_middleware
from gateway.web.pages import audit, availability, inbox, overview, preview, signin
from gateway.web.templating import FILTERS

STATIC: Final = Path(__file__).parent / "static"

__all__ = ["setup_web"]


def setup_web(app: web.Application) -> None:
    aiohttp_jinja2.setup(
        app,
        loader=jinja2.PackageLoader("gateway.web", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        filters=FILTERS,
    )
    app.middlewares.append(page_middleware)
    app.router.add_get("/", signin.home)
    app.router.add_get("/signin", signin.show)
    app.router.add_post("/signin", signin.submit)
    app.router.add_post("/signout", signin.leave)
    app.router.add_get("/availability", availability.index)
    app.router.add_get("/availability/{therapist}", availability.show)
    app.router.add_post("/availability/{therapist}/windows", availability.add_window)
    app.router.add_post("/availability/{therapist}/windows/remove", availability.remove_window)
    app.router.add_post("/availability/{therapist}/holidays", availability.set_holidays)
    app.router.add_post("/availability/{therapist}/time-off", availability.add_time_off)
    app.router.add_post(
        "/availability/{therapist}/time-off/{entry}/remove", availability.remove_time_off
    )
    app.router.add_get("/preview", preview.show)
    app.router.add_post("/preview", preview.submit)
    app.router.add_get("/inbox", inbox.index)
    # These pages read bodies, and each read is audited: a HEAD, which shows no body, is 405
    # rather than a read on record that delivered nothing.
    app.router.add_get("/inbox/{client}", inbox.show, allow_head=False)
    app.router.add_get("/inbox/messages/{message}", inbox.show_message, allow_head=False)
    app.router.add_post("/inbox/{client}/reply", inbox.reply)
    app.router.add_get("/audit", audit.index)
    app.router.add_get("/audit/messages/{message}", audit.show_message)
    app.router.add_post("/audit/messages/{message}", audit.read_body)
    app.router.add_post("/audit/export", audit.export)
    app.router.add_get("/overview", overview.show)
    app.router.add_static("/static/", STATIC)
