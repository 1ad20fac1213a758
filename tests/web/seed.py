"""Messages written straight into the database at chosen instants, as the webhook stores them,
so that counts and bodies on the pages can be checked exactly."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import insert

from gateway.db.engine import create_engine
from gateway.db.tables import MessageRow
from gateway.settings import Settings
from gateway.vault import Vault


async def seed_inbound(
    settings: Settings,
    *,
    at: datetime,
    client_id: str,
    therapist_id: str,
    phone: str,
    body: str,
    flags: Sequence[str] = (),
) -> str:
    vault = Vault.from_settings(settings)
    message_id = uuid.uuid4().hex
    engine = create_engine(settings.database_url)
    try:
        async with engine.begin() as connection:
            await connection.execute(
                insert(MessageRow),
                {
                    "id": message_id,
                    "sid": f"SM{message_id}",
                    "direction": "inbound",
                    "practice_number": "+15550009999",
                    "counterpart_index": vault.phone_index(phone),
                    "counterpart_enc": vault.seal("messages", "counterpart", message_id, phone),
                    "client_id": client_id,
                    "therapist_id": therapist_id,
                    "body_enc": vault.seal("messages", "body", message_id, body),
                    "body_purged_at": None,
                    "at": at,
                    "status": "received",
                    "flags": "," + "".join(f"{flag}," for flag in flags),
                    "rule": "open",
                    "deliver_at": None,
                    "twiml": None,
                },
            )
    finally:
        await engine.dispose()
    return message_id
