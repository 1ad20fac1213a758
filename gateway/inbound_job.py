"""Writing one inbound SMS in the group writer's transaction, idempotently on MessageSid."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.audit.store import AuditEvent
from gateway.clock import utc_iso
from gateway.db.tables import (
    AutoReplyRow,
    DecisionRow,
    MessageRow,
    OptOutRow,
    OutboxRow,
    table_of,
)
from gateway.db.upserts import insert_ignoring_conflicts
from gateway.delivery.outcomes import record_opt_change
from gateway.importer import bump_config_version
from rules.engine import (
    ALREADY_REPLIED,
    OPTED_OUT,
    RELAY_OPTED_OUT,
    reason_without_reply,
    relay_refused_reason,
)


@dataclass(frozen=True, slots=True)
class Stored:
    twiml: str


@dataclass(frozen=True, slots=True)
class Duplicate:
    """The MessageSid was stored before (a retry, or another replica): its first answer."""

    twiml: str


InboundResult = Stored | Duplicate


@dataclass(slots=True)
class InboundJob:
    message: dict[str, Any]
    decision: dict[str, Any]
    twiml: str
    twiml_without_reply: str
    outbox: list[dict[str, Any]] = field(default_factory=list)
    outbound_messages: list[dict[str, Any]] = field(default_factory=list)
    opt_change: dict[str, Any] | None = None
    auto_reply: dict[str, Any] | None = None
    events: list[AuditEvent] = field(default_factory=list)
    # Answered from the spool while the database was away: the client has `twiml` already.
    answered: bool = False
    # A relay's answer should its client turn out to have opted out (on another replica,
    # a moment ago): the relay is then not sent.
    relay_refused_twiml: str | None = None

    @property
    def sid(self) -> str:
        return str(self.message["sid"])

    @property
    def message_id(self) -> str:
        return str(self.message["id"])

    @classmethod
    async def write_many(
        cls, connection: AsyncConnection, jobs: Sequence[InboundJob]
    ) -> list[tuple[InboundResult, list[AuditEvent]]]:
        """One statement per table for the whole batch. The inbound messages go first, with
        ON CONFLICT DO NOTHING: a MessageSid stored before (a retry, or another replica, also
        one committing at this very moment) is answered with its first answer and writes
        nothing else. Replicas insert in MessageSid order, so that two batches holding some of
        the same ones wait for each other instead of deadlocking."""
        first_of_sid: dict[str, InboundJob] = {}
        for job in jobs:
            first_of_sid.setdefault(job.sid, job)
        candidates = sorted(first_of_sid.values(), key=lambda job: job.sid)
        inserted = await connection.execute(
            insert_ignoring_conflicts(connection, table_of(MessageRow)).returning(MessageRow.id),
            [job.message for job in candidates],
        )
        inserted_ids = set(inserted.scalars())
        fresh = [job for job in candidates if job.message_id in inserted_ids]
        answers = {job.sid: str(job.message["twiml"]) for job in fresh}
        answers.update(await _stored_answers(connection, set(first_of_sid) - set(answers)))
        if fresh:
            await cls._write_fresh(connection, fresh, answers)
        fresh_ids = {id(job) for job in fresh}
        return [
            (Stored(answers[job.sid]), job.events)
            if id(job) in fresh_ids
            else (Duplicate(answers.get(job.sid) or job.twiml), [])
            for job in jobs
        ]

    @classmethod
    async def _write_fresh(
        cls, connection: AsyncConnection, fresh: Sequence[InboundJob], answers: dict[str, str]
    ) -> None:
        """The rest of the rows of the jobs whose messages were just inserted."""
        losers = await cls._claim_auto_replies(connection, fresh)
        refused = await _relays_to_opted_out(connection, fresh)
        decisions = []
        quieted = []
        for job in fresh:
            decision = job.decision
            if job.message_id in refused and job.relay_refused_twiml is not None:
                answers[job.sid] = job.relay_refused_twiml
                quieted.append({"quieted_id": job.message_id, "twiml": job.relay_refused_twiml})
                job.outbound_messages = []
                job.outbox = [row for row in job.outbox if row["kind"] != "relay"]
                reason = relay_refused_reason(RELAY_OPTED_OUT)
                decision = {**decision, "reason": reason}
                job.events = [_with_reason(event, reason) for event in job.events]
            if job.message_id in losers and not job.answered:
                # Another process already auto-replied to this sender in this period, or took
                # the sender's STOP moments ago (this one's memory did not know it yet).
                answers[job.sid] = job.twiml_without_reply
                quieted.append({"quieted_id": job.message_id, "twiml": job.twiml_without_reply})
                details = {**decision["details"], "reply": False}
                reason = reason_without_reply(decision["reason"], losers[job.message_id])
                decision = {**decision, "reason": reason, "details": details}
                job.events = [_with_reason(event, reason) for event in job.events]
            decisions.append(decision)
        if quieted:
            await connection.execute(
                update(table_of(MessageRow)).where(
                    table_of(MessageRow).c.id == bindparam("quieted_id")
                ),
                quieted,
            )
        outbound = [row for job in fresh for row in job.outbound_messages]
        if outbound:
            await connection.execute(insert(table_of(MessageRow)), outbound)
            decisions.extend(
                _decision_of_relayed(job, row) for job in fresh for row in job.outbound_messages
            )
        await connection.execute(insert(table_of(DecisionRow)), decisions)
        outbox = [row for job in fresh for row in job.outbox]
        if outbox:
            await connection.execute(insert(table_of(OutboxRow)), outbox)
        opt_changes = sorted(
            (job.opt_change for job in fresh if job.opt_change is not None),
            key=lambda change: str(change["phone_index"]),
        )
        for change in opt_changes:
            await record_opt_change(connection, change, now=change["changed_at"])
        if opt_changes:
            # Every process keeps opt-out state in memory with the configuration.
            await bump_config_version(connection)

    @staticmethod
    async def _claim_auto_replies(
        connection: AsyncConnection, jobs: Sequence[InboundJob]
    ) -> dict[str, str]:
        """Message ids whose auto-reply may not go, with why: the sender opted out, or one was
        sent earlier for the same period."""
        claims = [job.auto_reply for job in jobs if job.auto_reply is not None]
        if not claims:
            return {}
        opted_out = set(
            (
                await connection.execute(
                    select(OptOutRow.phone_index).where(
                        OptOutRow.phone_index.in_({claim["phone_index"] for claim in claims}),
                        OptOutRow.opted_out,
                    )
                )
            ).scalars()
        )
        losers = {
            str(claim["message_id"]): OPTED_OUT
            for claim in claims
            if claim["phone_index"] in opted_out
        }
        claims = sorted(
            (claim for claim in claims if claim["phone_index"] not in opted_out),
            key=lambda claim: (str(claim["phone_index"]), str(claim["period"])),
        )
        if not claims:
            return losers
        await connection.execute(
            insert_ignoring_conflicts(connection, table_of(AutoReplyRow)), claims
        )
        mine = [claim["message_id"] for claim in claims]
        won = set(
            (
                await connection.execute(
                    select(AutoReplyRow.message_id).where(AutoReplyRow.message_id.in_(mine))
                )
            ).scalars()
        )
        losers.update(
            (str(message_id), ALREADY_REPLIED) for message_id in mine if message_id not in won
        )
        return losers


async def _relays_to_opted_out(connection: AsyncConnection, jobs: Sequence[InboundJob]) -> set[str]:
    """Message ids of relays whose client has opted out, read in the transaction that would
    send them: another replica may have taken the STOP before this one's memory knew."""
    targets = {
        job.message_id: str(row["counterpart_index"])
        for job in jobs
        if not job.answered
        for row in job.outbound_messages
    }
    if not targets:
        return set()
    opted_out = set(
        (
            await connection.execute(
                select(OptOutRow.phone_index).where(
                    OptOutRow.phone_index.in_(set(targets.values())), OptOutRow.opted_out
                )
            )
        ).scalars()
    )
    return {message_id for message_id, index in targets.items() if index in opted_out}


def _with_reason(event: AuditEvent, reason: str) -> AuditEvent:
    if event.action != "message_received" or event.details is None:
        return event
    return replace(event, details={**event.details, "reason": reason})


async def _stored_answers(connection: AsyncConnection, sids: set[str]) -> dict[str, str]:
    if not sids:
        return {}
    stored = await connection.execute(
        select(MessageRow.sid, MessageRow.twiml).where(MessageRow.sid.in_(sids))
    )
    return {sid: twiml for sid, twiml in stored.all() if sid is not None and twiml is not None}


def _decision_of_relayed(job: InboundJob, row: dict[str, Any]) -> dict[str, Any]:
    """A relayed text is explained by the decision on the therapist's message that asked
    for it."""
    deliver_at = row["deliver_at"]
    return {
        "message_id": row["id"],
        "rule": job.decision["rule"],
        "reason": job.decision["reason"],
        "details": {
            "relayed_from": job.message_id,
            "held": deliver_at is not None,
            "deliver_at": utc_iso(deliver_at),
        },
        "decided_at": job.decision["decided_at"],
    }
