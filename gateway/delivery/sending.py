"""The outbound SMS sender the settings call for: Twilio's REST API, or dry-run."""

from __future__ import annotations

from gateway.settings import Settings
from gateway.twilio.dry_run import DryRunSender
from gateway.twilio.sender import SmsSender, TwilioRestSender


def build_sender(settings: Settings, *, echo: bool) -> SmsSender:
    """Build inside the running event loop that will use it (its HTTP session is bound to
    one loop); the caller closes it."""
    if settings.dry_run or settings.twilio_account_sid is None:
        return DryRunSender(echo=echo)
    return TwilioRestSender(
        settings.twilio_account_sid,
        settings.secret("auth_token"),
        settings.twilio_api_url,
        settings.twilio_timeout_seconds,
    )
