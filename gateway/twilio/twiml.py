"""TwiML answers to inbound SMS."""

from __future__ import annotations

from functools import lru_cache

from twilio.twiml.messaging_response import MessagingResponse

CONTENT_TYPE = "text/xml"


@lru_cache(maxsize=4096)
def messaging_response(reply: str | None) -> str:
    """`<Response/>` with one `<Message>` when there is a reply, empty otherwise.

    Cached: replies repeat (crisis lines, one auto-reply per period), and rendering XML is
    the most expensive step of answering a webhook."""
    response = MessagingResponse()
    if reply:
        response.message(reply)
    return str(response.to_xml(xml_declaration=True))
