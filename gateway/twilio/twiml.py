"""TwiML answers to inbound SMS."""

from __future__ import annotations

from twilio.twiml.messaging_response import MessagingResponse

CONTENT_TYPE = "text/xml"


def messaging_response(reply: str | None) -> str:
    """`<Response/>` with one `<Message>` when there is a reply, empty otherwise."""
    response = MessagingResponse()
    if reply:
        response.message(reply)
    return str(response.to_xml(xml_declaration=True))
