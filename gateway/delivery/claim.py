"""Claiming outbox rows so that, among any number of workers, one sends each row.

A claim is a lease: `claimed_by` and `lease_until`. A worker that dies leaves its claims to
expire, and another worker takes them over. Rows go through these states:

    pending -> claimed -> sending -> sent | failed | unknown | pending (retry later)
    unknown -> sent | pending (reconciled with the provider)
    pending | claimed -> cancelled | merged (into a digest, then sent or failed with it)

A row in `sending` may already have reached Twilio, so an expired `sending` lease turns the
row `unknown` (to be reconciled), never back to `pending`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from sqlalchemy import ColumnElement, and_, case, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.orm import aliased

from gateway.db.engine import reader
from gateway.db.tables import OutboxRow, SendSlotRow

# States in which a row may be claimed once due and not leased.
_CLAIMABLE: Final = ("pending", "claimed", "unknown")
# States of rows that are still to be sent: what the pending gauge counts.
OPEN_STATES: Final = ("pending", "claimed", "sending", "unknown")
HELD_KINDS: Final = ("forward", "notify")
# A cap on the siblings of a held message claimed with it for one digest.
_MAX_SIBLINGS: Final = 50


@dataclass(frozen=True, slots=True)
class Claim:
    """One outbox row as the worker read it (claimed, unless read by `pending_held`)."""

    id: str
    message_id: str | None
    kind: str
    priority: int
    from_number: str
    to_enc: bytes
    to_index: str
    body_enc: bytes | None
    therapist_id: str | None
    client_id: str | None
    due_at: datetime
    state: str
    attempts: int
    details: dict[str, Any]
    created_at: datetime

    @property
    def held(self) -> bool:
        return bool(self.details.get("held"))

    @property
    def digest_key(self) -> tuple[str, str, str, str, str] | None:
        """Held forwards and notices to one therapist about one client may share a digest."""
        if (
            self.kind not in HELD_KINDS
            or not self.held
            or "digest" in self.details
            or self.therapist_id is None
            or self.client_id is None
        ):
            return None
        return (self.kind, self.therapist_id, self.client_id, self.to_index, self.from_number)

    @property
    def merged(self) -> tuple[str, ...]:
        """Ids of the rows whose messages this row carries as a digest."""
        return tuple(str(row_id) for row_id in self.details.get("digest", ()))

    @property
    def ids(self) -> tuple[str, ...]:
        """This row and the rows merged into it: what one send settles."""
        return (self.id, *self.merged)


def _claimable(now: datetime) -> ColumnElement[bool]:
    return and_(
        OutboxRow.state.in_(_CLAIMABLE),
        OutboxRow.due_at <= now,
        or_(OutboxRow.lease_until.is_(None), OutboxRow.lease_until < now),
    )


def _first_for_its_recipient(now: datetime) -> ColumnElement[bool]:
    """A recipient's messages go in the order they were written, also with several workers:
    a row waits while an earlier one to the same phone from the same number is being sent or
    is due itself (one claimed by another worker at this very moment included). Rows waiting
    out a retry delay, or held to a later opening, do not hold back the rest."""
    earlier = aliased(OutboxRow)
    return ~(
        select(earlier.id)
        .where(
            earlier.to_index == OutboxRow.to_index,
            earlier.from_number == OutboxRow.from_number,
            earlier.kind != "alert",
            or_(
                earlier.created_at < OutboxRow.created_at,
                and_(earlier.created_at == OutboxRow.created_at, earlier.id < OutboxRow.id),
            ),
            or_(
                earlier.state.in_(("claimed", "sending")),
                and_(earlier.state.in_(("pending", "unknown")), earlier.due_at <= now),
            ),
        )
        .exists()
    )


def _claim_of(row: Any, state: str) -> Claim:
    return Claim(
        id=row.id,
        message_id=row.message_id,
        kind=row.kind,
        priority=row.priority,
        from_number=row.from_number,
        to_enc=row.to_enc,
        to_index=row.to_index,
        body_enc=row.body_enc,
        therapist_id=row.therapist_id,
        client_id=row.client_id,
        due_at=row.due_at,
        state=state,
        attempts=row.attempts,
        details=dict(row.details or {}),
        created_at=row.created_at,
    )


def _locking(connection: AsyncConnection, statement: Any) -> Any:
    # SQLAlchemy drops SKIP LOCKED on SQLite without a word; there every transaction begins
    # IMMEDIATE (one writer at a time) and the UPDATE below re-checks each row anyway.
    if connection.dialect.name == "postgresql":
        return statement.with_for_update(skip_locked=True)
    return statement


async def _siblings(
    connection: AsyncConnection, now: datetime, rows: Sequence[Any], taken: set[str]
) -> list[Any]:
    """Due held rows of the same therapist and client as a held row in `rows`, so that one
    worker gets them all and sends one digest rather than each worker a part of it."""
    found: list[Any] = []
    keys = {
        key for key in (_claim_of(row, row.state).digest_key for row in rows) if key is not None
    }
    for kind, therapist_id, client_id, to_index, from_number in sorted(keys):
        candidates = await connection.execute(
            _locking(
                connection,
                select(OutboxRow)
                .where(
                    _claimable(now),
                    OutboxRow.state == "pending",
                    OutboxRow.kind == kind,
                    OutboxRow.therapist_id == therapist_id,
                    OutboxRow.client_id == client_id,
                    OutboxRow.to_index == to_index,
                    OutboxRow.from_number == from_number,
                )
                .order_by(OutboxRow.due_at, OutboxRow.created_at, OutboxRow.id)
                .limit(_MAX_SIBLINGS),
            )
        )
        for row in candidates:
            if row.id not in taken and (row.details or {}).get("held"):
                taken.add(row.id)
                found.append(row)
    return found


async def claim_due(
    engine: AsyncEngine,
    *,
    worker_id: str,
    now: datetime,
    lease: timedelta,
    limit: int,
    alerts_only: bool = False,
) -> list[Claim]:
    """Claim up to `limit` due rows (alerts first, then oldest due), plus the siblings of held
    rows among them; returns them in the order they should go.

    Rows whose sending number has no free send slot yet are left alone (alerts excepted): a
    backlog behind the rate limit is not claimed and deferred again on every pass."""
    query = select(OutboxRow).where(_claimable(now))
    if alerts_only:
        query = query.where(OutboxRow.kind == "alert")
    else:
        slot_busy = (
            select(SendSlotRow.from_number)
            .where(SendSlotRow.from_number == OutboxRow.from_number, SendSlotRow.next_at > now)
            .exists()
        )
        query = query.where(
            or_(OutboxRow.kind == "alert", and_(~slot_busy, _first_for_its_recipient(now)))
        )
    # Rows due together (held to one opening) go in the order they were written: ids are random.
    query = query.order_by(
        OutboxRow.priority, OutboxRow.due_at, OutboxRow.created_at, OutboxRow.id
    ).limit(limit)
    # A look first, without a write lock: most passes find nothing to claim, and on SQLite a
    # write transaction per pass would hold up the webhooks' group commits.
    async with reader(engine).connect() as connection:
        if (await connection.execute(query.with_only_columns(OutboxRow.id))).first() is None:
            return []
    async with engine.begin() as connection:
        rows = list(await connection.execute(_locking(connection, query)))
        taken = {row.id for row in rows}
        rows += await _siblings(connection, now, rows, taken)
        if not rows:
            return []
        won = set(
            (
                await connection.execute(
                    update(OutboxRow)
                    .where(OutboxRow.id.in_(taken), _claimable(now))
                    .values(
                        # An unknown row stays unknown: its claim is for reconciliation only.
                        state=case((OutboxRow.state == "unknown", "unknown"), else_="claimed"),
                        claimed_by=worker_id,
                        lease_until=now + lease,
                    )
                    .returning(OutboxRow.id)
                )
            ).scalars()
        )
    claims = [
        _claim_of(row, "unknown" if row.state == "unknown" else "claimed")
        for row in rows
        if row.id in won
    ]
    return sorted(
        claims, key=lambda claim: (claim.priority, claim.due_at, claim.created_at, claim.id)
    )


async def expire_sending(engine: AsyncEngine, now: datetime) -> int:
    """Rows left in `sending` by a worker that stopped mid-send: whether Twilio got them is
    unknown, so they are reconciled rather than sent again."""
    stale = and_(OutboxRow.state == "sending", OutboxRow.lease_until < now)
    async with reader(engine).connect() as connection:
        if (await connection.execute(select(OutboxRow.id).where(stale).limit(1))).first() is None:
            return 0
    async with engine.begin() as connection:
        result = await connection.execute(
            update(OutboxRow)
            .where(OutboxRow.state == "sending", OutboxRow.lease_until < now)
            .values(state="unknown", claimed_by=None, lease_until=None, due_at=now)
        )
    return int(result.rowcount)


async def release_claims(
    engine: AsyncEngine, worker_id: str, ids: Sequence[str] | None = None
) -> int:
    """Give back claims of this worker that it has not started to send (all of them, or those
    in `ids`)."""
    mine = [OutboxRow.claimed_by == worker_id]
    if ids is not None:
        mine.append(OutboxRow.id.in_(ids))
    async with engine.begin() as connection:
        released = await connection.execute(
            update(OutboxRow)
            .where(*mine, OutboxRow.state == "claimed")
            .values(state="pending", claimed_by=None, lease_until=None)
        )
        await connection.execute(
            update(OutboxRow)
            .where(*mine, OutboxRow.state == "unknown")
            .values(claimed_by=None, lease_until=None)
        )
    return int(released.rowcount)


async def set_aside(
    engine: AsyncEngine, worker_id: str, ids: Sequence[str], until: datetime
) -> None:
    """Give back claims this worker could not handle for a reason of their own (a record
    that conflicts), due again at `until`: the rest of the queue goes on meanwhile. An
    `unknown` row stays unknown (it is looked up again then, never sent blindly)."""
    async with engine.begin() as connection:
        await connection.execute(
            update(OutboxRow)
            .where(
                OutboxRow.id.in_(ids),
                OutboxRow.claimed_by == worker_id,
                OutboxRow.state.in_(("claimed", "unknown")),
            )
            .values(
                state=case((OutboxRow.state == "claimed", "pending"), else_=OutboxRow.state),
                claimed_by=None,
                lease_until=None,
                due_at=until,
            )
        )


@dataclass(frozen=True, slots=True)
class Backlog:
    """Rows due and still to be sent, or waiting to be tried again (Twilio refused them for
    now: their next try is later, but they are late already), and when the longest-waiting
    row now due became due."""

    count: int
    oldest_due_at: datetime | None

    def oldest_wait(self, now: datetime) -> timedelta:
        return now - self.oldest_due_at if self.oldest_due_at is not None else timedelta(0)


async def due_backlog(engine: AsyncEngine, now: datetime) -> Backlog:
    async with reader(engine).connect() as connection:
        open_rows = OutboxRow.state.in_(OPEN_STATES)
        count = (
            await connection.execute(
                select(func.count())
                .select_from(OutboxRow)
                .where(open_rows, or_(OutboxRow.due_at <= now, OutboxRow.attempts > 0))
            )
        ).scalar_one()
        oldest = (
            await connection.execute(
                select(func.min(OutboxRow.due_at)).where(open_rows, OutboxRow.due_at <= now)
            )
        ).scalar_one()
    return Backlog(count=int(count), oldest_due_at=oldest)


async def pending_held(engine: AsyncEngine, now: datetime) -> list[Claim]:
    """Held rows waiting for a later opening (read, not claimed: they are moved only with a
    conditional update)."""
    async with reader(engine).connect() as connection:
        rows = await connection.execute(
            select(OutboxRow).where(
                OutboxRow.state == "pending",
                OutboxRow.kind != "alert",
                OutboxRow.due_at > now,
                OutboxRow.therapist_id.is_not(None),
                OutboxRow.client_id.is_not(None),
            )
        )
        return [claim for claim in (_claim_of(row, row.state) for row in rows) if claim.held]
