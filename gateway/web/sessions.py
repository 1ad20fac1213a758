"""Server-side browser sessions: the cookie holds a random secret, the database only its keyed
hash, so a copy of the database signs no one in. A session ends after a spell of inactivity
and, whatever the activity, after a working day."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from sqlalchemy import delete, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.db.tables import WebSessionRow
from gateway.users import User, user_by_id

IDLE_TIMEOUT: Final = timedelta(minutes=30)
MAX_AGE: Final = timedelta(hours=12)
# Writing last_seen_at on every page would turn each read into a write.
TOUCH_AFTER: Final = timedelta(minutes=1)
_MAX_COOKIE: Final = 128


@dataclass(frozen=True, slots=True)
class WebSession:
    id_hash: str
    user: User
    csrf_token: str


def session_key(secret: str, token: str) -> str:
    return hmac.new(secret.encode(), b"session:" + token.encode(), hashlib.sha256).hexdigest()


def _expired(created_at: datetime, last_seen_at: datetime, now: datetime) -> bool:
    return now - last_seen_at >= IDLE_TIMEOUT or now - created_at >= MAX_AGE


async def start_session(
    connection: AsyncConnection, secret: str, user: User, now: datetime
) -> tuple[str, WebSession]:
    """A new session (a new id at every sign-in, so none planted before it survives); expired
    sessions are cleared on the way."""
    await connection.execute(
        delete(WebSessionRow).where(
            or_(
                WebSessionRow.last_seen_at <= now - IDLE_TIMEOUT,
                WebSessionRow.created_at <= now - MAX_AGE,
            )
        )
    )
    token = secrets.token_urlsafe(32)
    session = WebSession(session_key(secret, token), user, secrets.token_urlsafe(32))
    await connection.execute(
        insert(WebSessionRow),
        {
            "id_hash": session.id_hash,
            "user_id": user.id,
            "csrf_token": session.csrf_token,
            "created_at": now,
            "last_seen_at": now,
        },
    )
    return token, session


async def load_session(
    connection: AsyncConnection, secret: str, token: str, now: datetime
) -> WebSession | None:
    """The live session this cookie names, its last activity moved to `now`; None (and the
    row gone) once it has expired."""
    if not token or len(token) > _MAX_COOKIE:
        return None
    id_hash = session_key(secret, token)
    row = (
        await connection.execute(select(WebSessionRow).where(WebSessionRow.id_hash == id_hash))
    ).first()
    if row is None:
        return None
    if _expired(row.created_at, row.last_seen_at, now):
        await connection.execute(delete(WebSessionRow).where(WebSessionRow.id_hash == id_hash))
        return None
    user = await user_by_id(connection, row.user_id)
    if user is None:
        return None
    if now - row.last_seen_at >= TOUCH_AFTER:
        await connection.execute(
            update(WebSessionRow).where(WebSessionRow.id_hash == id_hash).values(last_seen_at=now)
        )
    return WebSession(id_hash, user, row.csrf_token)


async def end_session(connection: AsyncConnection, id_hash: str) -> None:
    await connection.execute(delete(WebSessionRow).where(WebSessionRow.id_hash == id_hash))
