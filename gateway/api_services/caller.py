"""Who is calling, from their token, and what their role lets them touch."""

from __future__ import annotations

from dataclasses import dataclass

from gateway.api_services.errors import ForbiddenError
from gateway.tokens import Role, TokenInfo


@dataclass(frozen=True, slots=True)
class Caller:
    token_id: str
    role: Role
    therapist_id: str | None

    @classmethod
    def from_token(cls, token: TokenInfo) -> Caller:
        return cls(token.id, token.role, token.therapist_id)

    @property
    def actor(self) -> str:
        """How the audit log names this caller."""
        return f"token:{self.token_id}"

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    def own_therapist(self) -> str:
        """The caller's therapist id; admins act for no therapist of their own."""
        if self.role != "therapist" or self.therapist_id is None:
            raise ForbiddenError("only a therapist's token can do this")
        return self.therapist_id

    def require_admin(self) -> None:
        if not self.is_admin:
            raise ForbiddenError("only an admin token can do this")

    def require_manages(self, therapist_id: str) -> None:
        """Admins manage every therapist; a therapist only themself."""
        if not self.is_admin and therapist_id != self.therapist_id:
            raise ForbiddenError("a therapist's token can only act for that therapist")
