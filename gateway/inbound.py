"""handle_inbound_sms: load facts from memory, decide, record in one transaction, answer.

The database is needed only to record. When it cannot record in time, the message is kept
in the encrypted local spool and answered as decided, and a crisis alert is attempted
directly: a crisis reply never waits for the database.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, Final

import structlog
from sqlalchemy.exc import SQLAlchemyError

from gateway.answers import AnswerCache
from gateway.clock import Clock
from gateway.config_cache import ConfigCache
from gateway.delivery.direct import DirectAttempt
from gateway.directory import Directory
from gateway.inbound_job import Duplicate, InboundJob, InboundResult
from gateway.inbound_record import InboundRecorder, InboundSmsForm
from gateway.metrics import Metrics
from gateway.sender_memory import SenderMemory
from gateway.spool import Spool, settle_direct_alerts
from gateway.twilio.twiml import messaging_response
from gateway.vault import Vault
from gateway.writer import GroupWriter, WriterClosedError
from rules.decisions import Decision, RelayToClient
from rules.engine import Facts, decide, relay_opted_out_reply
from rules.model import SenderHistory

log = structlog.get_logger(__name__)

# How long a webhook waits for its batch's commit before it spools instead: well inside
# Twilio's 15-second webhook timeout.
COMMIT_TIMEOUT: Final = 5.0
# A crisis alert Twilio does not take while the database is away is tried again this often,
# and, when nothing could keep its message, for this long.
DIRECT_ALERT_RETRY_SECONDS: Final = 5.0
DIRECT_ALERT_HOURS: Final = 6
# A crisis message waits less: its reply and alert go from the spool rather than seconds late
# while the database is locked or away. (A commit that outlives the wait still lands; the
# spooled copy is then a duplicate, and at worst the alert goes twice.)
CRISIS_COMMIT_TIMEOUT: Final = 2.0

# Sends crisis alerts straight to Twilio while the outbox cannot be written; returns the
# attempts that may have reached Twilio, by outbox row id.
DirectAlerter = Callable[[Sequence[dict[str, Any]]], Awaitable[Mapping[str, DirectAttempt]]]


class NoPracticeError(Exception):
    """No practice has been imported yet (or configuration is not loaded)."""


class NotRecordedError(Exception):
    """Neither the database nor the spool could keep the message."""


class InboundService:
    def __init__(
        self,
        *,
        config: ConfigCache,
        vault: Vault,
        writer: GroupWriter,
        spool: Spool,
        clock: Clock,
        metrics: Metrics,
        alert_directly: DirectAlerter | None = None,
        on_alerts_stored: Callable[[Sequence[dict[str, Any]]], None] | None = None,
        commit_timeout: float = COMMIT_TIMEOUT,
    ) -> None:
        self._config = config
        self._vault = vault
        self._writer = writer
        self._spool = spool
        self._clock = clock
        self._metrics = metrics
        self._alert_directly = alert_directly
        self._on_alerts_stored = on_alerts_stored
        self._commit_timeout = commit_timeout
        self._answers = AnswerCache()
        self._memory = SenderMemory()
        self._version_seen = -1
        self._background: set[asyncio.Task[None]] = set()

    def _directory(self) -> Directory:
        directory = self._config.directory
        if directory is None or directory.practice is None:
            raise NoPracticeError
        if directory.version != self._version_seen:
            self._version_seen = directory.version
            self._memory.forget_opt_changes()
        return directory

    async def handle(self, form: InboundSmsForm) -> str:
        """The TwiML answer for this message; the same answer for every copy of it."""
        directory = self._directory()
        return await self._answers.once(form.sid, lambda: self._handle_new(form, directory))

    @staticmethod
    def facts(
        directory: Directory,
        form: InboundSmsForm,
        sender_index: str,
        history: SenderHistory,
        opt_changes: Mapping[str, bool] | None = None,
    ) -> Facts:
        """What the rules need to know about this message. `opt_changes` are this process's
        opt-outs and opt-ins that the loaded configuration does not show yet."""
        if directory.practice is None:
            raise NoPracticeError
        number_therapists = directory.therapists_by_number.get(form.to_number, ())
        relay_therapists: tuple[str, ...] = ()
        if number_therapists:
            relay_therapists = directory.therapists_by_phone_index.get(sender_index, ())
        client_id = directory.client_by_phone_index.get(sender_index)
        return Facts(
            practice=directory.practice,
            therapists=directory.therapists,
            clients=directory.clients,
            client=directory.clients[client_id] if client_id is not None else None,
            number_therapists=number_therapists,
            relay_therapists=relay_therapists,
            history=history,
            opted_out_clients=_opted_out_clients(directory, opt_changes or {})
            if relay_therapists
            else directory.opted_out_clients,
        )

    async def _handle_new(self, form: InboundSmsForm, directory: Directory) -> str:
        now = self._clock.now()
        sender_index = self._vault.phone_index(form.from_number)
        history = self._memory.arrive(
            sender_index, now, opted_out=sender_index in directory.opted_out
        )
        facts = self.facts(directory, form, sender_index, history, self._memory.opt_changes())
        decision = decide(form.sms(now), facts)
        twiml = messaging_response(decision.reply)
        client_id = facts.client.id if facts.client is not None else None
        recorder = InboundRecorder(
            self._vault, directory, now, form, client_id=client_id, sender_index=sender_index
        )
        job = recorder.job(decision, twiml=twiml, twiml_without_reply=messaging_response(None))
        for effect in decision.effects:
            if isinstance(effect, RelayToClient):
                job.relay_refused_twiml = messaging_response(
                    relay_opted_out_reply(effect.client_id)
                )
        answer = await self._record(job, decision)
        self._remember(sender_index, decision, now)
        self._metrics.inbound.labels(rule=decision.rule).inc()
        if decision.crisis is not None:
            self._metrics.crisis.inc()
        log.debug(
            "inbound_decided",
            message_id=job.message["id"],
            rule=decision.rule,
            flags=list(decision.flags),
            client_id=client_id,
        )
        return answer

    async def _record(self, job: InboundJob, decision: Decision) -> str:
        try:
            # asyncio.timeout, unlike wait_for, needs no task of its own per message.
            wait = self._commit_timeout
            if decision.crisis is not None:
                wait = min(wait, CRISIS_COMMIT_TIMEOUT)
            async with asyncio.timeout(wait):
                result: InboundResult = await self._writer.submit(job)
        except (SQLAlchemyError, OSError, TimeoutError, WriterClosedError) as exc:
            return await self._keep_locally(job, decision, exc)
        if isinstance(result, Duplicate):
            log.info("inbound_duplicate", message_sid=job.sid)
        elif decision.alert_on_call and self._on_alerts_stored is not None:
            # Crisis alerts go at once, not at the worker's next poll.
            self._on_alerts_stored([row for row in job.outbox if row["kind"] == "alert"])
        return result.twiml

    async def _keep_locally(self, job: InboundJob, decision: Decision, cause: Exception) -> str:
        """The database could not record the message: spool it and answer as decided."""
        message_id = job.message["id"]
        # The client already has this answer, whatever the database says when it returns.
        job.answered = True
        try:
            await self._spool.save(job)
        except OSError as exc:
            log.error("spool_failed", message_id=message_id, error_type=type(exc).__name__)
            if decision.crisis is None:
                # Nothing can keep it: Twilio's fallback URL takes over after a 503.
                raise NotRecordedError from None
            # A crisis reply and its alert go out even when the message cannot be kept.
            self._in_background(self._alert_and_settle(job, kept=False))
            return job.twiml
        log.warning("inbound_spooled", message_id=message_id, error_type=type(cause).__name__)
        self._metrics.spooled.inc()
        self._in_background(self._alert_and_settle(job, kept=True))
        return job.twiml

    async def _alert_and_settle(self, job: InboundJob, *, kept: bool) -> None:
        """Each crisis alert goes straight to Twilio, and again every few seconds while Twilio
        does not take it: the on-call clinician must not wait for the database. Once a spooled
        message has reached the database, a worker sends what is left from the outbox; a
        message nothing could keep is tried for DIRECT_ALERT_HOURS."""
        alerts = [row for row in job.outbox if row["kind"] == "alert"]
        if self._alert_directly is None:
            return
        message_id = job.message["id"]
        give_up = asyncio.get_running_loop().time() + DIRECT_ALERT_HOURS * 3600
        while alerts:
            outcomes = await self._alert_directly(alerts)
            taken = {row_id: a for row_id, a in outcomes.items() if not a.again}
            if taken:
                # The same job may still be on its way to the database (a commit that outlived
                # the webhook's wait): settle it there too.
                settle_direct_alerts(job, taken)
                if kept:
                    await self._spool.settle_alerts(message_id, taken)
            alerts = [row for row in alerts if (a := outcomes.get(row["id"])) and a.again]
            if not alerts or asyncio.get_running_loop().time() > give_up:
                return
            await asyncio.sleep(DIRECT_ALERT_RETRY_SECONDS)
            if kept and not self._spool.holds(message_id):
                return

    def _remember(self, sender_index: str, decision: Decision, now: datetime) -> None:
        period = decision.auto_reply_period
        if period is not None:
            # Also when another process answered first: the period is used up either way.
            self._memory.auto_replied(sender_index, period, now)
        if decision.rule in ("opt_out", "opt_in"):
            self._memory.opted(sender_index, opted_out=decision.rule == "opt_out")

    def _in_background(self, work: Awaitable[None]) -> None:
        async def run() -> None:
            try:
                await work
            except Exception as exc:  # noqa: BLE001 - a failed direct alert must not surface here
                log.error("direct_alert_failed", error_type=type(exc).__name__)

        task = asyncio.create_task(run())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def recall_spooled_answers(self) -> None:
        """Before serving: the answers given to messages still in the spool (this process
        started during an outage), so that Twilio's retries of them get the same answer and
        are not decided, spooled and alerted on again."""
        for sid, twiml in await asyncio.to_thread(self._spool.answers):
            if self._answers.get(sid) is None:
                self._answers.remember(sid, twiml)

    async def replay_spool(self) -> int:
        return await self._spool.replay(self._writer)


def _opted_out_clients(directory: Directory, changes: Mapping[str, bool]) -> frozenset[str]:
    """The clients opted out, counting changes made here since the configuration was loaded:
    a therapist's relay right after a client's STOP must not be promised to them."""
    if not changes:
        return directory.opted_out_clients
    opted_out = set(directory.opted_out_clients)
    for index, is_out in changes.items():
        client_id = directory.client_by_phone_index.get(index)
        if client_id is not None and is_out:
            opted_out.add(client_id)
        elif client_id is not None:
            opted_out.discard(client_id)
    return frozenset(opted_out)
