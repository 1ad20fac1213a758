"""Webhook signatures, checked with twilio's own RequestValidator."""

from __future__ import annotations

import hmac
from collections.abc import Mapping

from twilio.request_validator import RequestValidator


class SignatureChecker:
    def __init__(self, auth_token: str, public_url: str) -> None:
        self._validator = RequestValidator(auth_token)
        self._public_url = public_url.rstrip("/")

    def url_for(self, raw_path: str) -> str:
        """The URL Twilio signed: the configured public URL plus the path and query exactly as
        received (never the URL the server sees, which is wrong behind a TLS proxy)."""
        return self._public_url + raw_path

    def is_valid(self, raw_path: str, params: Mapping[str, str], signature: str | None) -> bool:
        if not signature:
            return False
        url, form = self.url_for(raw_path), dict(params)
        try:
            # Twilio signs the URL as configured, so one signature usually settles it; the full
            # check also tries the URL with and without its default port.
            expected = str(self._validator.compute_signature(url, form))
            if hmac.compare_digest(expected.encode(), signature.encode()):
                return True
            return bool(self._validator.validate(url, form, signature))
        except (TypeError, ValueError, UnicodeError):
            # The validator raises on malformed input (e.g. a JSON body without bodySHA256).
            return False

    def sign(self, raw_path: str, params: Mapping[str, str]) -> str:
        """The signature Twilio would send; for `gateway simulate` and tests."""
        return str(self._validator.compute_signature(self.url_for(raw_path), dict(params)))
