"""The signed-in person as the API use cases know callers, named in the audit log as a user."""

from __future__ import annotations

from dataclasses import dataclass

from gateway.api_services.caller import Caller
from gateway.users import User


@dataclass(frozen=True, slots=True)
class WebCaller(Caller):
    user_id: str

    @classmethod
    def from_user(cls, user: User) -> WebCaller:
        return cls(token_id="", role=user.role, therapist_id=user.therapist_id, user_id=user.id)

    @property
    def actor(self) -> str:
        return f"user:{self.user_id}"
