"""CSRF protection for every form: a synchronizer token in the session (before sign-in, a
token bound to a random cookie) plus a check that the request comes from our own origin."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Final
from urllib.parse import urlsplit

FIELD: Final = "csrf_token"


def tokens_match(expected: str, given: str) -> bool:
    return bool(given) and hmac.compare_digest(expected.encode(), given.encode())


def new_signin_nonce() -> str:
    return secrets.token_urlsafe(24)


def signin_token(secret: str, nonce: str) -> str:
    """The sign-in form's token: only a page served to this browser (holding the nonce
    cookie) can know it."""
    return hmac.new(secret.encode(), b"signin:" + nonce.encode(), hashlib.sha256).hexdigest()


def _origin(url: str) -> str | None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    return f"{parts.scheme}://{parts.netloc}".lower()


def same_origin(
    origin: str | None, referer: str | None, *, host: str | None, public_url: str
) -> bool:
    """Whether a form post comes from one of our pages.

    Browsers send Origin on every POST; a cross-site page cannot make it name our host.
    Without Origin the Referer is used; without either (not a browser), the token alone
    decides. Behind a proxy the public URL is ours too.
    """
    claimed = origin if origin is not None else referer
    if claimed is None:
        return True
    found = _origin(claimed)
    if found is None:
        return False
    allowed = {_origin(public_url)}
    if host:
        allowed.update({f"http://{host}".lower(), f"https://{host}".lower()})
    return found in allowed
