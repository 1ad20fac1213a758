"""What one inbound SMS writes: its message, decision, outbox rows and audit events, sealed
and ready for one transaction (or for the spool while the database is away)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, assert_never

from gateway.audit.chain import JSONValue
from gateway.audit.store import AuditEvent
from gateway.clock import utc_iso
from gateway.directory import Directory
from gateway.inbound_job import InboundJob
from gateway.outbox import Kind, new_id, outbox_row
from gateway.phones import is_phone_number
from gateway.vault import Vault
from rules.decisions import (
    AlertOnCall,
    Decision,
    Effect,
    Forward,
    Hold,
    NotifyOptOut,
    RecordOptIn,
    RecordOptOut,
    RelayToClient,
    Reply,
)
from rules.model import InboundSms
from rules.notices import crisis_alert_text, forward_text, notify_text, opt_out_notice


@dataclass(frozen=True, slots=True)
class InboundSmsForm:
    """The fields of Twilio's webhook that the gateway uses."""

    sid: str
    from_number: str
    to_number: str
    body: str

    def sms(self, at: datetime) -> InboundSms:
        """The message as the rules see it (the webhook and the preview alike)."""
        return InboundSms(self.body, at, is_phone_number(self.from_number))


def flags_column(flags: tuple[str, ...]) -> str:
    return "," + "".join(f"{flag}," for flag in flags)


def _status(decision: Decision) -> str:
    if decision.deliver_at is not None:
        return "held"
    if decision.forward in ("sms", "notify"):
        return "queued"
    return "received"


def decision_details(decision: Decision) -> dict[str, JSONValue]:
    """The decision as stored and shown to admins: rule ids and outcomes, never content."""
    details: dict[str, JSONValue] = {
        "open": decision.open,
        "next_opening": utc_iso(decision.next_opening),
        "reply": decision.reply is not None,
        "auto_reply_period": decision.auto_reply_period,
        "forward": decision.forward,
        "deliver_at": utc_iso(decision.deliver_at),
        "alert_on_call": decision.alert_on_call,
        "therapist_ids": list(decision.therapist_ids),
    }
    if decision.crisis is not None:
        details["crisis"] = {
            "categories": list(decision.crisis.categories),
            "severity": decision.crisis.severity,
            "rules": [evidence.rule_id for evidence in decision.crisis.evidence],
        }
    return details


class InboundRecorder:
    """Builds the InboundJob for one decided message."""

    def __init__(
        self,
        vault: Vault,
        directory: Directory,
        now: datetime,
        form: InboundSmsForm,
        *,
        client_id: str | None,
        sender_index: str,
    ) -> None:
        self._vault = vault
        self._directory = directory
        self._now = now
        self._form = form
        self._client_id = client_id
        # The blind index the caller already computed to look the sender up.
        self._sender_index = sender_index
        self._message_id = new_id()

    def job(self, decision: Decision, *, twiml: str, twiml_without_reply: str) -> InboundJob:
        vault, now, form, message_id = self._vault, self._now, self._form, self._message_id
        message = {
            "id": message_id,
            "sid": form.sid,
            "direction": "inbound",
            "practice_number": form.to_number,
            "counterpart_index": self._sender_index,
            "counterpart_enc": vault.seal("messages", "counterpart", message_id, form.from_number),
            "client_id": self._client_id,
            "therapist_id": decision.therapist_ids[0] if decision.therapist_ids else None,
            "body_enc": vault.seal("messages", "body", message_id, form.body),
            "body_purged_at": None,
            "at": now,
            "status": _status(decision),
            "flags": flags_column(decision.flags),
            "rule": decision.rule,
            "deliver_at": decision.deliver_at,
            "twiml": twiml,
        }
        job = InboundJob(
            message=message,
            decision={
                "message_id": message_id,
                "rule": decision.rule,
                "reason": decision.reason,
                "details": decision_details(decision),
                "decided_at": now,
            },
            twiml=twiml,
            twiml_without_reply=twiml_without_reply,
        )
        for effect in decision.effects:
            self._apply(job, effect)
        # One entry records both the arrival and the decision taken on it: the chain grows
        # with every message, so it carries no more entries than it must.
        received: dict[str, JSONValue] = {
            "direction": "inbound",
            "client": self._client_id,
            "therapist": decision.therapist_ids[0] if decision.therapist_ids else None,
            "flags": list(decision.flags),
            "rule": decision.rule,
            "reason": decision.reason,
        }
        subject = f"message:{message_id}"
        job.events.append(AuditEvent(now, "twilio", "message_received", subject, received))
        return job

    def _apply(self, job: InboundJob, effect: Effect) -> None:
        match effect:
            case Reply(period=period):
                if period is not None:
                    job.auto_reply = {
                        "phone_index": self._sender_index,
                        "period": period,
                        "message_id": self._message_id,
                        "at": self._now,
                    }
            case Forward(therapist_id=therapist_id, mode=mode):
                self._forward(job, therapist_id, mode, due_at=self._now, held=False)
            case Hold(therapist_id=therapist_id, mode=mode, until=until):
                self._forward(job, therapist_id, mode, due_at=until, held=True)
            case AlertOnCall(therapist_ids=therapist_ids, practice=practice):
                self._alerts(job, therapist_ids, with_practice=practice)
            case RecordOptOut(keyword=keyword) | RecordOptIn(keyword=keyword):
                self._opt_change(job, keyword, opted_out=isinstance(effect, RecordOptOut))
            case NotifyOptOut(therapist_id=therapist_id, until=until):
                therapist = self._directory.therapist_info(therapist_id)
                notice = opt_out_notice(self._client_id or "?")
                job.outbox.append(
                    self._row(
                        "notice",
                        therapist.number,
                        therapist.forward_to,
                        notice,
                        therapist_id,
                        due_at=until,
                        details={"held": until is not None},
                    )
                )
            case RelayToClient():
                self._relay(job, effect)
            case _:
                assert_never(effect)

    def _row(
        self,
        kind: Kind,
        from_number: str,
        to_number: str,
        body: str,
        therapist_id: str | None,
        *,
        due_at: datetime | None = None,
        details: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        return outbox_row(
            self._vault,
            kind=kind,
            from_number=from_number,
            to_number=to_number,
            body=body,
            due_at=due_at or self._now,
            now=self._now,
            message_id=self._message_id,
            therapist_id=therapist_id,
            client_id=self._client_id,
            details=details,
        )

    def _opt_change(self, job: InboundJob, keyword: str, *, opted_out: bool) -> None:
        job.opt_change = {
            "phone_index": self._sender_index,
            "opted_out": opted_out,
            "keyword": keyword,
            "message_id": self._message_id,
            "changed_at": self._now,
        }
        action = "opted_out" if opted_out else "opted_in"
        details: dict[str, JSONValue] = {"client": self._client_id, "keyword": keyword}
        job.events.append(
            AuditEvent(self._now, "twilio", action, f"message:{self._message_id}", details)
        )

    def _forward(
        self, job: InboundJob, therapist_id: str, mode: str, *, due_at: datetime, held: bool
    ) -> None:
        if mode == "none" or self._client_id is None:
            return
        therapist = self._directory.therapist_info(therapist_id)
        client = self._directory.client_info(self._client_id)
        kind: Kind
        if mode == "sms":
            kind, body = "forward", forward_text(client.name, client.id, self._form.body)
        else:
            kind, body = "notify", notify_text(client.id)
        job.outbox.append(
            self._row(
                kind,
                therapist.number,
                therapist.forward_to,
                body,
                therapist_id,
                due_at=due_at,
                details={"held": held},
            )
        )

    def _alerts(
        self, job: InboundJob, therapist_ids: tuple[str, ...], *, with_practice: bool
    ) -> None:
        """Alerts name the client (or "unknown sender"), never content or a number; each
        on-call phone gets one, however many of the alerted share it."""
        directory = self._directory
        client_id = self._client_id
        who = directory.client_info(client_id).name if client_id is not None else "unknown sender"
        targets: list[tuple[str | None, str, str, str]] = []
        for therapist_id in therapist_ids:
            therapist = directory.therapist_info(therapist_id)
            on_call = therapist.on_call or therapist.forward_to
            targets.append((therapist_id, on_call, therapist.number, therapist.timezone))
        practice = directory.config.practice
        if (with_practice or not targets) and practice is not None and practice.on_call:
            targets.append((None, practice.on_call, self._form.to_number, practice.timezone))
        phones: set[str] = set()
        answered = is_phone_number(self._form.from_number)
        for target_id, on_call, from_number, timezone in targets:
            if on_call in phones:
                continue
            phones.add(on_call)
            text = crisis_alert_text(who, self._now, timezone, self._message_id, answered=answered)
            job.outbox.append(
                self._row("alert", from_number, on_call, text, target_id, details={"escalation": 0})
            )

    def _relay(self, job: InboundJob, effect: RelayToClient) -> None:
        """The therapist's text becomes an outbound message of its own, sent by the worker."""
        vault = self._vault
        therapist = self._directory.therapist_info(effect.therapist_id)
        client = self._directory.client_info(effect.client_id)
        outbound_id = new_id()
        job.outbound_messages.append(
            {
                "id": outbound_id,
                "sid": None,
                "direction": "outbound",
                "practice_number": therapist.number,
                "counterpart_index": vault.phone_index(client.phone),
                "counterpart_enc": vault.seal("messages", "counterpart", outbound_id, client.phone),
                "client_id": client.id,
                "therapist_id": therapist.id,
                "body_enc": vault.seal("messages", "body", outbound_id, effect.text),
                "body_purged_at": None,
                "at": self._now,
                "status": "held" if effect.deliver_at else "queued",
                "flags": ",",
                "rule": "relay",
                "deliver_at": effect.deliver_at,
                "twiml": None,
            }
        )
        row = outbox_row(
            vault,
            kind="relay",
            from_number=therapist.number,
            to_number=client.phone,
            body=effect.text,
            due_at=effect.deliver_at or self._now,
            now=self._now,
            message_id=outbound_id,
            therapist_id=therapist.id,
            client_id=client.id,
            details={"held": effect.deliver_at is not None},
        )
        job.outbox.append(row)
