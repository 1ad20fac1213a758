"""The framework's ceiling: an aiohttp app answering a constant TwiML on the webhook route."""

from __future__ import annotations

import sys

from aiohttp import web

TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response />'


async def sms(request: web.Request) -> web.Response:
    await request.post()
    return web.Response(text=TWIML, content_type="text/xml")


def main() -> None:
    app = web.Application()
    app.router.add_post("/twilio/sms", sms)
    app.router.add_get("/healthz", lambda _: web.json_response({"status": "ok"}))  # type: ignore[arg-type, return-value]
    web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None)


if __name__ == "__main__":
    main()
