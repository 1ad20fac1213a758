"""What can go wrong in an API use case, in words a caller can act on.

Messages name ids and fields, never a message body, a phone number or a client's name; the
HTTP layer turns each kind into its status code in one place (gateway.http.api.errors).
"""

from __future__ import annotations

from typing import ClassVar


class ApiError(Exception):
    code: ClassVar[str] = "error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidInputError(ApiError):
    code = "invalid_input"


class UnauthorizedError(ApiError):
    code = "unauthorized"


class ForbiddenError(ApiError):
    code = "forbidden"


class NotFoundError(ApiError):
    code = "not_found"


class ConflictError(ApiError):
    code = "conflict"


class UnavailableError(ApiError):
    """The gateway cannot serve this yet (no practice imported, configuration not loaded)."""

    code = "unavailable"
