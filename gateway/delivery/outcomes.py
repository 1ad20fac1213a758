"""State changes of outbox rows, each written with its audit events in the caller's
transaction. Audit details carry ids, kinds and codes: never a body or a phone number."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, Final

from sqlalchemy import ColumnElement, CursorResult, bindparam, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from gateway.audit.chain import JSONValue
from gateway.audit.store import AuditEvent, append_each, append_events
from gateway.clock import utc_iso
from gateway.db.engine import reader
from gateway.db.tables import MessageRow, OptOutRow, OutboxRow, StatusEventRow, table_of
from gateway.db.upserts import upsert_insert
from gateway.delivery.claim import Claim
from gateway.outbox import PRIORITY_ALERT, TO_CLIENT_KINDS, TO_THERAPIST_KINDS
from gateway.status_job import FORWARD_FAILED, advances

ACTOR: Final = "delivery"
OPTED_OUT_AT_CARRIER: Final = 21610
# A held row with no opening left is looked at again this often (and on every change).
NO_OPENING_RECHECK: Final = timedelta(days=1)


def _subject(outbox_id: str) -> str:
    return f"outbox:{outbox_id}"


async def _audit(
    connection: AsyncConnection,
    now: datetime,
    action: str,
    ids: Sequence[str],
    details: dict[str, JSONValue],
) -> None:
    await append_each(
        connection, AuditEvent(now, ACTOR, action, None, details), [_subject(i) for i in ids]
    )


async def _release(
    connection: AsyncConnection, *where: ColumnElement[bool], **values: Any
) -> CursorResult[Any]:
    """Updates the outbox rows matching `where`, which no worker holds any more."""
    return await connection.execute(
        update(OutboxRow).where(*where).values(claimed_by=None, lease_until=None, **values)
    )


async def _message_ids(connection: AsyncConnection, ids: Sequence[str]) -> list[str]:
    rows = await connection.execute(
        select(OutboxRow.message_id).where(OutboxRow.id.in_(ids), OutboxRow.message_id.is_not(None))
    )
    return sorted({str(message_id) for message_id in rows.scalars()})


async def _reported_status(connection: AsyncConnection, sid: str, start: str | None) -> str | None:
    """The status that callbacks already reported for `sid`: they can arrive before the send's
    answer is written, and found no row to update then."""
    status = start
    reported = await connection.execute(
        select(StatusEventRow.status).where(StatusEventRow.sid == sid).order_by(StatusEventRow.id)
    )
    for new in reported.scalars():
        if advances(status, new):
            status = new
    return status


async def mark_sending(
    connection: AsyncConnection, claim: Claim, *, worker_id: str, now: datetime, lease: timedelta
) -> bool:
    """From here on the row may reach Twilio: if this worker dies, it is reconciled, not resent.
    False when the claim was lost (its lease ran out and another worker took the row)."""
    details: dict[str, Any] = {**claim.details, "delivery": {"attempt_at": now.isoformat()}}
    result = await connection.execute(
        update(OutboxRow)
        .where(
            OutboxRow.id == claim.id,
            OutboxRow.claimed_by == worker_id,
            OutboxRow.state == "claimed",
        )
        .values(state="sending", lease_until=now + lease, details=details)
    )
    return bool(result.rowcount == 1)


async def hasten_waiting_alerts(connection: AsyncConnection, now: datetime) -> int:
    """Twilio answers again: alerts waiting out a retry delay become due now, so that they
    go ahead of the messages that waited with them."""
    result = await connection.execute(
        update(OutboxRow)
        .where(
            OutboxRow.state == "pending",
            OutboxRow.priority == PRIORITY_ALERT,
            OutboxRow.attempts > 0,
            OutboxRow.due_at > now,
        )
        .values(due_at=now)
    )
    return result.rowcount


async def record_sent(
    connection: AsyncConnection, claim: Claim, sid: str, *, now: datetime, sent_at: datetime
) -> list[str]:
    """Marks the row (and the rows merged into it) sent; returns the ids that changed."""
    delivery_status = await _reported_status(connection, sid, None)
    updated = list(
        (
            await connection.execute(
                update(OutboxRow)
                .where(
                    OutboxRow.id.in_(claim.ids),
                    OutboxRow.state.in_(("claimed", "sending", "unknown", "merged")),
                )
                .values(
                    state="sent",
                    sid=sid,
                    sent_at=sent_at,
                    delivery_status=delivery_status,
                    claimed_by=None,
                    lease_until=None,
                    last_error=None,
                )
                .returning(OutboxRow.id)
            )
        ).scalars()
    )
    if not updated:
        return []
    if claim.kind in TO_CLIENT_KINDS and claim.message_id is not None:
        await connection.execute(
            update(MessageRow)
            .where(MessageRow.id == claim.message_id, MessageRow.direction == "outbound")
            .values(sid=sid, status=await _reported_status(connection, sid, "sent"))
        )
    elif claim.kind in TO_THERAPIST_KINDS:
        await connection.execute(
            update(MessageRow)
            .where(
                MessageRow.id.in_(await _message_ids(connection, updated)),
                MessageRow.status.in_(("queued", "held")),
            )
            .values(status="forwarded")
        )
    await _audit(connection, now, "message_sent", sorted(updated), {"kind": claim.kind, "sid": sid})
    return updated


async def mark_alerts_sending(
    connection: AsyncConnection,
    alerts: Sequence[Claim],
    *,
    worker_id: str,
    now: datetime,
    lease: timedelta,
) -> set[str]:
    """`mark_sending` for several claimed rows, in two statements however many there are;
    returns the ids this worker still held and marked."""
    ids = [alert.id for alert in alerts]
    attempt = {"attempt_at": now.isoformat()}
    await connection.execute(
        update(OutboxRow)
        .where(
            OutboxRow.id == bindparam("row_id"),
            OutboxRow.claimed_by == worker_id,
            OutboxRow.state == "claimed",
        )
        .values(state="sending", lease_until=now + lease, details=bindparam("row_details")),
        [
            {"row_id": alert.id, "row_details": {**alert.details, "delivery": attempt}}
            for alert in alerts
        ],
    )
    # Which rows are ours now: an executemany's row count is not reported by every driver.
    marked = await connection.execute(
        select(OutboxRow.id).where(
            OutboxRow.id.in_(ids), OutboxRow.claimed_by == worker_id, OutboxRow.state == "sending"
        )
    )
    return set(marked.scalars())


async def record_alerts_sent(
    connection: AsyncConnection, sent: Sequence[tuple[Claim, str]], *, now: datetime
) -> list[str]:
    """`record_sent` for crisis alerts (single rows, no message to update), in a handful of
    statements however many there are; returns the ids that changed."""
    sid_of = {claim.id: sid for claim, sid in sent}
    open_states = ("claimed", "sending", "unknown")
    # The rows the update will change, read first: an executemany's row count is not reported
    # by every driver, and only these are audited.
    updated = sorted(
        (
            await connection.execute(
                select(OutboxRow.id).where(
                    OutboxRow.id.in_(list(sid_of)), OutboxRow.state.in_(open_states)
                )
            )
        ).scalars()
    )
    if not updated:
        return []
    reported: dict[str, str | None] = dict.fromkeys(sid_of.values(), None)
    events = await connection.execute(
        select(StatusEventRow.sid, StatusEventRow.status)
        .where(StatusEventRow.sid.in_(list(reported)))
        .order_by(StatusEventRow.id)
    )
    for sid, status in events.all():
        if advances(reported[sid], status):
            reported[sid] = status
    await connection.execute(
        update(OutboxRow)
        .where(
            OutboxRow.id == bindparam("row_id"),
            # Not IN: an executemany cannot expand a list.
            or_(*(OutboxRow.state == state for state in open_states)),
        )
        .values(
            state="sent",
            sid=bindparam("row_sid"),
            sent_at=now,
            delivery_status=bindparam("row_status"),
            claimed_by=None,
            lease_until=None,
            last_error=None,
        ),
        [
            {"row_id": row_id, "row_sid": sid_of[row_id], "row_status": reported[sid_of[row_id]]}
            for row_id in updated
        ],
    )
    await append_events(
        connection,
        [
            AuditEvent(
                now,
                ACTOR,
                "message_sent",
                _subject(row_id),
                {"kind": "alert", "sid": sid_of[row_id]},
            )
            for row_id in updated
        ],
    )
    return updated


async def record_retry(
    connection: AsyncConnection, claim: Claim, *, due_at: datetime, error: str
) -> None:
    await _release(
        connection,
        OutboxRow.id == claim.id,
        state="pending",
        due_at=due_at,
        attempts=claim.attempts + 1,
        last_error=error,
    )


async def record_unknown(
    connection: AsyncConnection,
    claim: Claim,
    *,
    attempt_at: datetime,
    check_at: datetime,
    error: str,
) -> None:
    details: dict[str, Any] = {
        **claim.details,
        "delivery": {"attempt_at": attempt_at.isoformat(), "asks": 0},
    }
    await _release(
        connection,
        OutboxRow.id == claim.id,
        state="unknown",
        due_at=check_at,
        attempts=claim.attempts + 1,
        last_error=error,
        details=details,
    )


async def still_unknown(
    connection: AsyncConnection,
    claim: Claim,
    *,
    asks: int,
    check_at: datetime,
    attempt_at: datetime,
) -> None:
    # The attempt's time is kept with the count: the grace runs from it, not from the row's
    # due time, which each check moves on.
    delivery = {
        **claim.details.get("delivery", {}),
        "asks": asks,
        "attempt_at": attempt_at.isoformat(),
    }
    await _release(
        connection,
        OutboxRow.id == claim.id,
        OutboxRow.state == "unknown",
        due_at=check_at,
        details={**claim.details, "delivery": delivery},
    )


async def requeue(connection: AsyncConnection, claim: Claim, *, now: datetime) -> None:
    """Twilio has no such message: sending it (again) is safe."""
    details = {key: value for key, value in claim.details.items() if key != "delivery"}
    await _release(
        connection,
        OutboxRow.id == claim.id,
        OutboxRow.state == "unknown",
        state="pending",
        due_at=now,
        details=details,
    )


async def record_rejected(
    connection: AsyncConnection, claim: Claim, *, code: int | None, status: int, now: datetime
) -> list[str]:
    """Marks the row failed; on 21610 also cancels what else waits for that number. Returns
    the ids of the rows cancelled that way."""
    error = f"twilio {code}" if code is not None else f"http {status}"
    await _release(connection, OutboxRow.id.in_(claim.ids), state="failed", last_error=error)
    await _settle_replies(connection, claim.ids, "failed")
    await _audit_unsent(
        connection, now, "send_failed", claim.ids, {"kind": claim.kind, "code": code or status}
    )
    if code != OPTED_OUT_AT_CARRIER:
        return []
    if claim.kind not in TO_CLIENT_KINDS:
        # The carrier refuses everything to this number until it texts START.
        return await _cancel_waiting(connection, claim.to_index, now, OPTED_OUT_AT_CARRIER)
    # Twilio's opt-out stands until the client texts START (which records the opt-in): what is
    # written to them meanwhile is cancelled before it is sent, and refused.
    keyword = f"twilio {OPTED_OUT_AT_CARRIER}"
    opted_out: dict[str, JSONValue] = {"client": claim.client_id, "keyword": keyword}
    await append_events(
        connection, [AuditEvent(now, ACTOR, "opted_out", _subject(claim.id), opted_out)]
    )
    change = {
        "phone_index": claim.to_index,
        "opted_out": True,
        "keyword": keyword,
        "message_id": None,
        "changed_at": now,
    }
    return await record_opt_change(connection, change, now=now, code=OPTED_OUT_AT_CARRIER)


async def record_opt_change(
    connection: AsyncConnection,
    change: dict[str, Any],
    *,
    now: datetime,
    code: int | str = "opted_out",
) -> list[str]:
    """The opt-out state of one phone (`phone_index`, `opted_out`, `keyword`, `message_id`,
    `changed_at`), inserted or replaced. An opt-out cancels what waits to be sent to that phone
    (replies held to an opening too: an opt-in before then must not bring them back); returns
    the ids of the rows cancelled."""
    table = table_of(OptOutRow)
    statement = upsert_insert(connection, table).values(change)
    statement = statement.on_conflict_do_update(
        index_elements=[table.c.phone_index],
        set_={
            key: statement.excluded[key]
            for key in ("opted_out", "keyword", "message_id", "changed_at")
        },
    )
    await connection.execute(statement)
    if not change["opted_out"]:
        return []
    return await _cancel_waiting(connection, str(change["phone_index"]), now, code)


async def _cancel_waiting(
    connection: AsyncConnection, to_index: str, now: datetime, code: int | str
) -> list[str]:
    """Cancels the rows waiting to be sent to a phone that opted out. Crisis alerts go to
    on-call phones, never to a client, and are left alone."""
    waiting = list(
        (
            await connection.execute(
                update(OutboxRow)
                .where(
                    OutboxRow.to_index == to_index,
                    OutboxRow.state == "pending",
                    OutboxRow.kind != "alert",
                )
                .values(state="cancelled", last_error="recipient opted out")
                .returning(OutboxRow.id)
            )
        ).scalars()
    )
    if waiting:
        await _settle_replies(connection, waiting, "cancelled")
        await _audit_unsent(connection, now, "send_cancelled", sorted(waiting), {"code": code})
    return waiting


async def _settle_replies(
    connection: AsyncConnection,
    ids: Sequence[str],
    status: str,
    forward_status: str = FORWARD_FAILED,
) -> None:
    """Messages whose sends will never go read as such, not as held or queued: a reply to a
    client reads `status`, a client's message whose forward or notice it was reads
    `forward_status`."""
    await connection.execute(
        update(MessageRow)
        .where(
            MessageRow.id.in_(await _message_ids(connection, ids)),
            MessageRow.direction == "outbound",
            MessageRow.status.in_(("queued", "held")),
        )
        .values(status=status, deliver_at=None)
    )
    forwarded = select(OutboxRow.message_id).where(
        OutboxRow.id.in_(ids), OutboxRow.kind.in_(TO_THERAPIST_KINDS)
    )
    await connection.execute(
        update(MessageRow)
        .where(
            MessageRow.id.in_(forwarded),
            MessageRow.direction == "inbound",
            MessageRow.status.in_(("queued", "held")),
        )
        .values(status=forward_status)
    )


async def _audit_unsent(
    connection: AsyncConnection,
    now: datetime,
    action: str,
    ids: Sequence[str],
    details: dict[str, JSONValue],
) -> None:
    """Audit entries for sends that will not go, each naming its message: an auditor asks
    which message was not delivered, and the outbox is not theirs to read."""
    rows = await connection.execute(
        select(OutboxRow.id, OutboxRow.message_id).where(OutboxRow.id.in_(ids))
    )
    message_of: dict[str, str | None] = dict(rows.all())
    await append_events(
        connection,
        [
            AuditEvent(
                now, ACTOR, action, _subject(row_id), {**details, "message": message_of.get(row_id)}
            )
            for row_id in ids
        ],
    )


async def sids_of_others(engine: AsyncEngine, claim: Claim) -> frozenset[str]:
    """The SIDs other rows between the same two numbers were sent as: a reconciliation must
    not take one of them for this row's (the same notice text twice is two messages)."""
    async with reader(engine).connect() as connection:
        rows = await connection.execute(
            select(OutboxRow.sid).where(
                OutboxRow.from_number == claim.from_number,
                OutboxRow.to_index == claim.to_index,
                OutboxRow.sid.is_not(None),
                OutboxRow.id.not_in(claim.ids),
            )
        )
        return frozenset(str(sid) for sid in rows.scalars())


async def cancel(
    connection: AsyncConnection,
    claim: Claim,
    *,
    reason: str,
    code: str,
    now: datetime,
    forward_status: str = FORWARD_FAILED,
) -> None:
    """The row will not be sent. A client's message it was to forward reads `forward_status`
    (`received` when the inbox was its only destination after all)."""
    await _release(connection, OutboxRow.id.in_(claim.ids), state="cancelled", last_error=reason)
    await _settle_replies(connection, claim.ids, "cancelled", forward_status)
    await _audit_unsent(
        connection, now, "send_cancelled", claim.ids, {"kind": claim.kind, "code": code}
    )


async def defer(connection: AsyncConnection, claim: Claim, *, due_at: datetime) -> None:
    """Back to pending until `due_at`, with nothing attempted."""
    await _release(connection, OutboxRow.id == claim.id, state="pending", due_at=due_at)


async def reschedule(
    connection: AsyncConnection,
    claim: Claim,
    *,
    due_at: datetime,
    now: datetime,
    only_pending: bool = False,
) -> bool:
    """A held message follows its therapist's availability: the row and its messages move to
    the new opening. False when the row was no longer pending (with `only_pending`)."""
    return await _move(connection, claim, due_at, now=now, only_pending=only_pending)


async def park(
    connection: AsyncConnection, claim: Claim, *, now: datetime, only_pending: bool = False
) -> bool:
    """No opening within a year, for now: the row waits unsent, looked at again daily and on
    every change of availability, and its messages stay held without a delivery time. False
    when the row was no longer pending (with `only_pending`)."""
    return await _move(connection, claim, None, now=now, only_pending=only_pending)


async def _move(
    connection: AsyncConnection,
    claim: Claim,
    deliver_at: datetime | None,
    *,
    now: datetime,
    only_pending: bool,
) -> bool:
    condition = [OutboxRow.id == claim.id]
    if only_pending:
        condition.append(OutboxRow.state == "pending")
    details = {key: value for key, value in claim.details.items() if key != "parked"}
    if deliver_at is None:
        details["parked"] = True
    result = await _release(
        connection,
        *condition,
        state="pending",
        due_at=deliver_at or now + NO_OPENING_RECHECK,
        details=details,
    )
    if result.rowcount != 1:
        return False
    # An opt-out's notice to the therapist is not the opt-out message's delivery: the
    # message itself is never held, and shows no delivery time.
    if claim.kind != "notice":
        await connection.execute(
            update(MessageRow)
            .where(MessageRow.id.in_(await _message_ids(connection, claim.ids)))
            .values(deliver_at=deliver_at)
        )
    await _audit(
        connection,
        now,
        "delivery_rescheduled",
        [claim.id],
        {"kind": claim.kind, "deliver_at": utc_iso(deliver_at)},
    )
    return True


async def fail_unreadable(connection: AsyncConnection, claim: Claim, *, now: datetime) -> None:
    await _release(
        connection,
        OutboxRow.id.in_(claim.ids),
        OutboxRow.state.in_(("claimed", "unknown")),
        state="failed",
        last_error="cannot decrypt",
    )
    await _settle_replies(connection, claim.ids, "failed")
    await _audit_unsent(
        connection, now, "send_failed", claim.ids, {"kind": claim.kind, "code": "decryption"}
    )
