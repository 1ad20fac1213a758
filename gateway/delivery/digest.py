"""One text for several held messages of one client to one therapist."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Final

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.db.tables import ClientRow, MessageRow, OutboxRow
from gateway.delivery.claim import Claim
from gateway.vault import Vault
from rules.notices import digest_text, notify_digest_text

# Twilio refuses longer bodies (error 21617).
MAX_BODY_CHARS: Final = 1600


def digest_body(kind: str, client_name: str, client_id: str, bodies: Sequence[str]) -> str:
    if kind == "forward":
        return digest_text(client_name, client_id, list(bodies))
    return notify_digest_text(client_id, len(bodies))


def fitting(kind: str, client_name: str, client_id: str, bodies: Sequence[str]) -> int:
    """How many of `bodies`, from the first, one digest can carry (at least one)."""
    count = len(bodies)
    while count > 1 and len(digest_body(kind, client_name, client_id, bodies[:count])) > (
        MAX_BODY_CHARS
    ):
        count -= 1
    return max(count, 1)


async def merge(
    connection: AsyncConnection, vault: Vault, lead: Claim, others: Sequence[Claim]
) -> tuple[Claim, list[Claim]]:
    """Fold `others` into `lead` as one digest: the lead's text becomes the digest and the
    others are marked `merged`, settled with the lead when it is sent. Returns the new lead and
    the rows that did not fit (left to the caller, for another digest)."""
    group = [lead, *others]
    message_ids = [claim.message_id for claim in group]
    if lead.client_id is None or any(message_id is None for message_id in message_ids):
        return lead, list(others)
    stored = {
        row.id: row.body_enc
        for row in await connection.execute(
            select(MessageRow.id, MessageRow.body_enc).where(MessageRow.id.in_(message_ids))
        )
    }
    client_enc = (
        await connection.execute(select(ClientRow.name_enc).where(ClientRow.id == lead.client_id))
    ).scalar_one_or_none()
    if client_enc is None or any(stored.get(message_id) is None for message_id in message_ids):
        # A purged body or a removed client: each row goes with its own text.
        return lead, list(others)
    bodies = [
        vault.open("messages", "body", str(message_id), stored[message_id] or b"")
        for message_id in message_ids
    ]
    name = vault.open("clients", "name", lead.client_id, client_enc)
    count = fitting(lead.kind, name, lead.client_id, bodies)
    if count == 1:
        return lead, list(others)
    merged, rest = group[1:count], list(group[count:])
    body_enc = vault.seal(
        "outbox", "body", lead.id, digest_body(lead.kind, name, lead.client_id, bodies[:count])
    )
    details = {**lead.details, "digest": [claim.id for claim in merged]}
    await connection.execute(
        update(OutboxRow).where(OutboxRow.id == lead.id).values(body_enc=body_enc, details=details)
    )
    await connection.execute(
        update(OutboxRow)
        .where(OutboxRow.id.in_([claim.id for claim in merged]))
        .values(state="merged", claimed_by=None, lease_until=None)
    )
    return replace(lead, body_enc=body_enc, details=details), rest


def digest_units(claims: Sequence[Claim]) -> list[tuple[Claim, list[Claim]]]:
    """Claims in sending order, held ones of one client and therapist together: the oldest
    leads and the rest may ride along in its digest."""
    units: list[tuple[Claim, list[Claim]]] = []
    groups: dict[tuple[str, str, str, str, str], list[Claim]] = {}
    for claim in claims:
        key = claim.digest_key
        if key is None or claim.state != "claimed":
            units.append((claim, []))
        elif key in groups:
            groups[key].append(claim)
        else:
            groups[key] = [claim]
            units.append((claim, groups[key]))
    ordered: list[tuple[Claim, list[Claim]]] = []
    for claim, group in units:
        if not group:
            ordered.append((claim, []))
            continue
        lead, *others = sorted(group, key=lambda item: (item.created_at, item.id))
        ordered.append((lead, others))
    return ordered
