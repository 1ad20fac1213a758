"""A send goes as the configuration stands when it goes, not as it stood when it was written.

A forward held until its opening goes to the therapist's phone, from the practice number and
in the `forward` mode configured then; a held reply goes to the client's phone of then. What no
one configured should receive any more (a removed therapist or client, `forward = "none"`) is
withdrawn: the message stays in the inbox.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Final

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.audit.chain import JSONValue
from gateway.audit.store import AuditEvent, append_events
from gateway.db.tables import MessageRow, OutboxRow
from gateway.delivery.claim import Claim
from gateway.directory import Directory
from gateway.outbox import TO_CLIENT_KINDS, TO_THERAPIST_KINDS
from gateway.vault import Vault
from rules.notices import digest_text, forward_text, notify_digest_text, notify_text

ACTOR: Final = "delivery"
_KIND_OF_MODE: Final = {"sms": "forward", "notify": "notify"}


@dataclass(frozen=True, slots=True)
class Withdrawn:
    """No one configured should receive this send any more."""

    reason: str
    code: str


async def as_configured(
    connection: AsyncConnection, vault: Vault, directory: Directory, claim: Claim, now: datetime
) -> Claim | Withdrawn:
    """The claim addressed as `directory` says (its row updated and audited when that
    changed anything), or why it is withdrawn."""
    if claim.kind in TO_THERAPIST_KINDS and claim.therapist_id is not None:
        return await _to_therapist(connection, vault, directory, claim, now)
    if claim.kind in TO_CLIENT_KINDS and claim.client_id is not None:
        client = directory.config.clients.get(claim.client_id)
        if client is None:
            return Withdrawn("client no longer configured", "client_removed")
        therapist = directory.config.therapists.get(client.therapist_id)
        from_number = therapist.number if therapist is not None else claim.from_number
        return await _readdress(
            connection,
            vault,
            claim,
            now,
            (claim.kind, from_number, client.phone),
            body_enc=claim.body_enc,
        )
    return claim


async def _to_therapist(
    connection: AsyncConnection, vault: Vault, directory: Directory, claim: Claim, now: datetime
) -> Claim | Withdrawn:
    therapist = directory.config.therapists.get(claim.therapist_id or "")
    if therapist is None:
        return Withdrawn("therapist no longer configured", "therapist_removed")
    kind = _KIND_OF_MODE.get(therapist.forward)
    if kind is None:
        return Withdrawn("the therapist reads messages in the inbox only", "forward_none")
    address = (kind, therapist.number, therapist.forward_to)
    if _unchanged(vault, claim, address):
        return claim
    body = await _therapist_text(connection, vault, directory, claim, kind)
    body_enc = vault.seal("outbox", "body", claim.id, body)
    return await _readdress(connection, vault, claim, now, address, body_enc=body_enc)


def _unchanged(vault: Vault, claim: Claim, address: tuple[str, str, str]) -> bool:
    """Whether the row already goes as `address` (kind, from number, to number) says."""
    kind, from_number, to_number = address
    return (
        claim.kind == kind
        and claim.from_number == from_number
        and claim.to_index == vault.phone_index(to_number)
    )


async def _therapist_text(
    connection: AsyncConnection, vault: Vault, directory: Directory, claim: Claim, kind: str
) -> str:
    """The forward or notice text for the messages the row carries (one, or a digest's)."""
    client_id = claim.client_id or ""
    message_ids = await _carried_messages(connection, claim)
    if kind == "forward":
        client = directory.config.clients.get(client_id)
        bodies = await _bodies(connection, vault, message_ids)
        if client is not None and bodies is not None:
            if len(bodies) == 1:
                return forward_text(client.name, client_id, bodies[0])
            return digest_text(client.name, client_id, bodies)
        # A purged body or a removed client: a notice says no more than the inbox does.
    if len(message_ids) == 1:
        return notify_text(client_id)
    return notify_digest_text(client_id, len(message_ids))


async def _carried_messages(connection: AsyncConnection, claim: Claim) -> list[str]:
    merged = claim.merged
    rows = (
        await connection.execute(select(OutboxRow.message_id).where(OutboxRow.id.in_(merged)))
        if merged
        else ()
    )
    ids = [claim.message_id, *(message_id for (message_id,) in rows)]
    return [str(message_id) for message_id in ids if message_id is not None]


async def _bodies(
    connection: AsyncConnection, vault: Vault, message_ids: list[str]
) -> list[str] | None:
    rows = await connection.execute(
        select(MessageRow.id, MessageRow.body_enc).where(MessageRow.id.in_(message_ids))
    )
    sealed: dict[str, bytes | None] = dict(rows.all())
    if not message_ids or any(sealed.get(message_id) is None for message_id in message_ids):
        return None
    return [
        vault.open("messages", "body", message_id, sealed[message_id] or b"")
        for message_id in message_ids
    ]


async def _readdress(
    connection: AsyncConnection,
    vault: Vault,
    claim: Claim,
    now: datetime,
    address: tuple[str, str, str],
    *,
    body_enc: bytes | None,
) -> Claim:
    kind, from_number, to_number = address
    to_index = vault.phone_index(to_number)
    if (kind, from_number, to_index) == (claim.kind, claim.from_number, claim.to_index):
        return claim
    to_enc = vault.seal("outbox", "to", claim.id, to_number)
    await connection.execute(
        update(OutboxRow)
        .where(OutboxRow.id == claim.id)
        .values(
            kind=kind, from_number=from_number, to_enc=to_enc, to_index=to_index, body_enc=body_enc
        )
    )
    changed: list[JSONValue] = [
        name
        for name, before, after in (
            ("kind", claim.kind, kind),
            ("from", claim.from_number, from_number),
            ("to", claim.to_index, to_index),
        )
        if before != after
    ]
    details: dict[str, JSONValue] = {"kind": kind, "was": claim.kind, "changed": changed}
    event = AuditEvent(now, ACTOR, "send_readdressed", f"outbox:{claim.id}", details)
    await append_events(connection, [event])
    return replace(
        claim,
        kind=kind,
        from_number=from_number,
        to_enc=to_enc,
        to_index=to_index,
        body_enc=body_enc,
    )
