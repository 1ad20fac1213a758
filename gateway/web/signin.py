"""Signing in and out: passwords checked off the event loop, repeated failures lock the email
out for a while, and every attempt and sign-out is in the audit log."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final, Literal

import structlog
from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from gateway.audit.chain import JSONValue
from gateway.audit.store import AuditEvent, append_events
from gateway.db.engine import reader
from gateway.db.tables import LoginAttemptRow
from gateway.users import User, find_user, normal_email, password_matches
from gateway.web.sessions import WebSession, end_session, start_session

log = structlog.get_logger(__name__)

LOCK_AFTER_FAILURES: Final = 5
LOCK_WINDOW: Final = timedelta(minutes=15)
MAX_EMAIL: Final = 254
MAX_PASSWORD: Final = 1024

Refusal = Literal["wrong_credentials", "locked"]


@dataclass(frozen=True, slots=True)
class SignedIn:
    token: str
    session: WebSession


@dataclass(frozen=True, slots=True)
class Refused:
    why: Refusal


def email_key(secret: str, email: str) -> str:
    return hmac.new(
        secret.encode(), b"email:" + normal_email(email).encode(), hashlib.sha256
    ).hexdigest()


async def _recent_failures(connection: AsyncConnection, key: str, now: datetime) -> int:
    """Failures within the lock window that no later success has cleared."""
    last_success = (
        await connection.execute(
            select(func.max(LoginAttemptRow.at)).where(
                LoginAttemptRow.email_key == key, LoginAttemptRow.succeeded
            )
        )
    ).scalar_one_or_none()
    since = now - LOCK_WINDOW
    if last_success is not None and last_success > since:
        since = last_success
    count = await connection.execute(
        select(func.count())
        .select_from(LoginAttemptRow)
        .where(
            LoginAttemptRow.email_key == key,
            LoginAttemptRow.at > since,
            LoginAttemptRow.succeeded.is_(False),
        )
    )
    return int(count.scalar_one())


async def _audit(
    connection: AsyncConnection,
    *,
    now: datetime,
    actor: str,
    action: str,
    subject: str | None,
    details: dict[str, JSONValue] | None = None,
) -> None:
    await append_events(connection, [AuditEvent(now, actor, action, subject, details)])


async def sign_in(
    engine: AsyncEngine, secret: str, email: str, password: str, now: datetime
) -> SignedIn | Refused:
    key = email_key(secret, email)
    async with reader(engine).connect() as connection:
        locked = await _recent_failures(connection, key, now) >= LOCK_AFTER_FAILURES
        found = None if locked else await find_user(connection, email)
    if locked:
        async with engine.begin() as connection:
            await _audit(
                connection,
                now=now,
                actor="web",
                action="sign_in_refused",
                subject=None,
                details={"why": "locked"},
            )
        log.info("sign_in_refused", reason_code="locked")
        return Refused("locked")
    user: User | None = found[0] if found is not None else None
    # argon2 takes tens of milliseconds of CPU by design: off the loop that answers webhooks.
    matches = await asyncio.to_thread(
        password_matches, found[1] if found is not None else None, password
    )
    async with engine.begin() as connection:
        await connection.execute(
            insert(LoginAttemptRow), {"email_key": key, "at": now, "succeeded": matches}
        )
        if user is None or not matches:
            subject = f"user:{user.id}" if user is not None else None
            why = "wrong_password" if user is not None else "unknown_email"
            await _audit(
                connection,
                now=now,
                actor="web",
                action="sign_in_failed",
                subject=subject,
                details={"why": why},
            )
            failures = await _recent_failures(connection, key, now)
        else:
            token, session = await start_session(connection, secret, user, now)
            await _audit(
                connection, now=now, actor=user.actor, action="signed_in", subject=f"user:{user.id}"
            )
    if user is None or not matches:
        log.info("sign_in_failed", count=failures)
        return Refused("locked" if failures >= LOCK_AFTER_FAILURES else "wrong_credentials")
    log.info("signed_in", role=user.role)
    return SignedIn(token, session)


async def sign_out(engine: AsyncEngine, session: WebSession, now: datetime) -> None:
    async with engine.begin() as connection:
        await end_session(connection, session.id_hash)
        await _audit(
            connection,
            now=now,
            actor=session.user.actor,
            action="signed_out",
            subject=f"user:{session.user.id}",
        )
    log.info("signed_out", role=session.user.role)
