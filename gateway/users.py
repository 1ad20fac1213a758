"""People who sign in to the web pages: an email, a role, and a password kept only as an
argon2 hash."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Final, cast

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.audit.store import AuditEvent, append_events
from gateway.db.tables import TherapistRow, UserRow
from gateway.tokens import Role

# Long enough that a guessed password is not the weak point, short enough to type.
MIN_PASSWORD_LENGTH: Final = 12
MAX_PASSWORD_LENGTH: Final = 1024
_HASHER: Final = PasswordHasher()
# Checked when the email is unknown, so that an unknown email takes as long as a wrong
# password and response times do not reveal who has an account.
_DECOY_HASH: Final = _HASHER.hash("decoy password that matches nothing")


class UserError(ValueError):
    """An account that cannot be created; the message names the field, never the password."""


@dataclass(frozen=True, slots=True)
class User:
    id: str
    email: str
    role: Role
    therapist_id: str | None

    @property
    def actor(self) -> str:
        """How the audit log names this person."""
        return f"user:{self.id}"


def normal_email(email: str) -> str:
    return email.strip().lower()


def _user(row: UserRow) -> User:
    return User(row.id, row.email, cast(Role, row.role), row.therapist_id)


def check_password_rules(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise UserError(f"the password must have at least {MIN_PASSWORD_LENGTH} characters")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise UserError(f"the password must have at most {MAX_PASSWORD_LENGTH} characters")


def hash_password(password: str) -> str:
    return _HASHER.hash(password)


def password_matches(password_hash: str | None, password: str) -> bool:
    """Whether `password` is the one hashed; slow by design (argon2), so call it off the loop."""
    try:
        return _HASHER.verify(password_hash or _DECOY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


async def create_user(
    connection: AsyncConnection,
    *,
    email: str,
    password_hash: str,
    role: Role,
    therapist_id: str | None,
    now: datetime,
    actor: str = "cli",
) -> User:
    """A new account, audited in the caller's transaction."""
    email = normal_email(email)
    if "@" not in email or len(email) > 254 or any(char.isspace() for char in email):
        raise UserError("email: not an email address")
    if (role == "therapist") != (therapist_id is not None):
        raise UserError("a therapist account names its therapist; an admin account names none")
    if therapist_id is not None:
        found = await connection.execute(
            select(TherapistRow.id).where(TherapistRow.id == therapist_id)
        )
        if found.first() is None:
            raise UserError(f"therapist: no therapist {therapist_id}")
    taken = await connection.execute(
        select(func.count()).select_from(UserRow).where(UserRow.email == email)
    )
    if taken.scalar_one():
        raise UserError("email: an account with this email exists already")
    user = User(uuid.uuid4().hex[:16], email, role, therapist_id)
    await connection.execute(
        insert(UserRow),
        {
            "id": user.id,
            "email": user.email,
            "password_hash": password_hash,
            "role": role,
            "therapist_id": therapist_id,
            "created_at": now,
        },
    )
    await append_events(
        connection,
        [
            AuditEvent(
                now,
                actor,
                "user_created",
                f"user:{user.id}",
                {"role": role, "therapist": therapist_id},
            )
        ],
    )
    return user


async def find_user(connection: AsyncConnection, email: str) -> tuple[User, str] | None:
    """The account with this email and its password hash."""
    row = (
        await connection.execute(select(UserRow).where(UserRow.email == normal_email(email)))
    ).first()
    if row is None:
        return None
    return _user(row), row.password_hash  # type: ignore[arg-type]


async def user_by_id(connection: AsyncConnection, user_id: str) -> User | None:
    row = (await connection.execute(select(UserRow).where(UserRow.id == user_id))).first()
    return None if row is None else _user(row)  # type: ignore[arg-type]
