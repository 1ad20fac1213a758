"""Outbox rows: every SMS the gateway sends is written here first, in the same transaction as
what caused it, and sent by the delivery worker."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Final, Literal

from gateway.vault import Vault

Kind = Literal["alert", "forward", "notify", "notice", "relay", "reply"]
# Kinds sent to clients: these follow the client's opt-out and update an outbound message.
TO_CLIENT_KINDS: Final = ("relay", "reply")
# Kinds that carry a client's message to the therapist's own phone.
TO_THERAPIST_KINDS: Final = ("forward", "notify")

# Lower goes first: crisis alerts ahead of everything queued.
PRIORITY_ALERT: Final = 0
PRIORITY_NORMAL: Final = 10


def new_id() -> str:
    return uuid.uuid4().hex


def outbox_row(
    vault: Vault,
    *,
    kind: Kind,
    from_number: str,
    to_number: str,
    body: str,
    due_at: datetime,
    now: datetime,
    message_id: str | None = None,
    therapist_id: str | None = None,
    client_id: str | None = None,
    details: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Values for one outbox row, with the recipient and the text sealed to the row."""
    row_id = new_id()
    return {
        "id": row_id,
        "message_id": message_id,
        "kind": kind,
        "priority": PRIORITY_ALERT if kind == "alert" else PRIORITY_NORMAL,
        "from_number": from_number,
        "to_enc": vault.seal("outbox", "to", row_id, to_number),
        "to_index": vault.phone_index(to_number),
        "body_enc": vault.seal("outbox", "body", row_id, body),
        "therapist_id": therapist_id,
        "client_id": client_id,
        "due_at": due_at,
        "state": "pending",
        "attempts": 0,
        "lease_until": None,
        "claimed_by": None,
        "sid": None,
        "delivery_status": None,
        "last_error": None,
        "details": details or {},
        "created_at": now,
        "sent_at": None,
    }
