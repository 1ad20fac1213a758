"""API tokens: shown once, stored only as a hash, listed without secrets, revocable."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Final, Literal

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.audit.store import AuditEvent, append_events
from gateway.db.tables import ApiTokenRow

Role = Literal["admin", "therapist"]
# A recognisable prefix lets secret scanners find leaked tokens.
PREFIX: Final = "bgw_"


@dataclass(frozen=True, slots=True)
class TokenInfo:
    id: str
    name: str
    role: Role
    therapist_id: str | None
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None

    def is_active(self, now: datetime) -> bool:
        return self.revoked_at is None and (self.expires_at is None or now < self.expires_at)


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _info(row: ApiTokenRow) -> TokenInfo:
    return TokenInfo(
        id=row.id,
        name=row.name,
        role=row.role,  # type: ignore[arg-type]
        therapist_id=row.therapist_id,
        created_at=row.created_at,
        expires_at=row.expires_at,
        revoked_at=row.revoked_at,
    )


async def create_token(
    connection: AsyncConnection,
    *,
    name: str,
    role: Role,
    therapist_id: str | None,
    now: datetime,
    expires_at: datetime | None = None,
    actor: str = "cli",
) -> tuple[str, TokenInfo]:
    """A new token (its only appearance in plain text) and what is stored of it."""
    if (role == "therapist") != (therapist_id is not None):
        raise ValueError("a therapist token names its therapist; an admin token names none")
    token_id = uuid.uuid4().hex[:16]
    secret = f"{PREFIX}{token_id}_{secrets.token_urlsafe(32)}"
    values = {
        "id": token_id,
        "name": name,
        "role": role,
        "therapist_id": therapist_id,
        "secret_hash": _hash(secret),
        "created_at": now,
        "expires_at": expires_at,
        "revoked_at": None,
    }
    await connection.execute(insert(ApiTokenRow), values)
    await append_events(
        connection,
        [
            AuditEvent(
                now,
                actor,
                "token_created",
                f"token:{token_id}",
                {"role": role, "therapist": therapist_id},
            )
        ],
    )
    row = (await connection.execute(select(ApiTokenRow).where(ApiTokenRow.id == token_id))).one()
    return secret, _info(row)  # type: ignore[arg-type]


async def list_tokens(connection: AsyncConnection) -> list[TokenInfo]:
    rows = (await connection.execute(select(ApiTokenRow).order_by(ApiTokenRow.created_at))).all()
    return [_info(row) for row in rows]  # type: ignore[arg-type]


async def revoke_token(
    connection: AsyncConnection, token_id: str, *, now: datetime, actor: str = "cli"
) -> bool:
    result = await connection.execute(
        update(ApiTokenRow)
        .where(ApiTokenRow.id == token_id, ApiTokenRow.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    if result.rowcount == 0:
        return False
    await append_events(connection, [AuditEvent(now, actor, "token_revoked", f"token:{token_id}")])
    return True


async def authenticate(connection: AsyncConnection, token: str, now: datetime) -> TokenInfo | None:
    """The active token this secret belongs to, or None."""
    # Tokens are ASCII; a header's stray bytes arrive as surrogates that cannot be hashed.
    if not token.startswith(PREFIX) or not token.isascii():
        return None
    digest = _hash(token)
    row = (
        await connection.execute(select(ApiTokenRow).where(ApiTokenRow.secret_hash == digest))
    ).first()
    if row is None or not hmac.compare_digest(row.secret_hash, digest):
        return None
    info = _info(row)  # type: ignore[arg-type]
    return info if info.is_active(now) else None
