"""Aggregate counts for the practice overview: when clients write (weekday x hour), how many
messages arrive outside hours, auto-replies, crisis events and how fast on-call alerts went
out. Counts and times only: no content, no phone numbers, no names."""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from datetime import datetime
from typing import Final
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.api_services.caller import Caller
from gateway.api_services.context import ApiContext
from gateway.api_services.messages import in_inbox_of, numbers_of
from gateway.db.engine import reader
from gateway.db.tables import AutoReplyRow, MessageRow, OutboxRow

DAYS: Final = 7
HOURS: Final = 24


@dataclass(frozen=True, slots=True)
class Overview:
    zone: str
    since: datetime
    until: datetime
    # heatmap[weekday][hour]: inbound messages, Monday first, in `zone`.
    heatmap: tuple[tuple[int, ...], ...]
    inbound: int
    after_hours: int
    auto_replies: int
    crisis: int
    alerts: int
    alerts_sent: int
    alert_median_seconds: float | None
    alert_max_seconds: float | None

    @property
    def busiest(self) -> int:
        return max((max(row) for row in self.heatmap), default=0)

    @property
    def after_hours_percent(self) -> int:
        return round(100 * self.after_hours / self.inbound) if self.inbound else 0


def _flagged(flag: str) -> ColumnElement[bool]:
    return MessageRow.flags.contains(f",{flag},", autoescape=True)


async def _count(connection: AsyncConnection, *conditions: ColumnElement[bool]) -> int:
    found = await connection.execute(
        select(func.count()).select_from(MessageRow).where(*conditions)
    )
    return int(found.scalar_one())


async def practice_overview(
    context: ApiContext, caller: Caller, *, since: datetime, until: datetime, zone: str
) -> Overview:
    """Admins see the whole practice; a therapist the messages of their own inbox only."""
    own = None if caller.is_admin else caller.own_therapist()
    inbound: list[ColumnElement[bool]] = [
        MessageRow.direction == "inbound",
        MessageRow.at >= since,
        MessageRow.at < until,
    ]
    alerts: list[ColumnElement[bool]] = [
        OutboxRow.kind == "alert",
        OutboxRow.created_at >= since,
        OutboxRow.created_at < until,
    ]
    mine = in_inbox_of(own, numbers_of(context, own)) if own is not None else None
    if mine is not None:
        inbound.append(mine)
        alerts.append(OutboxRow.therapist_id == own)
    tz = ZoneInfo(zone)
    heatmap = [[0] * HOURS for _ in range(DAYS)]
    async with reader(context.engine).connect() as connection:
        # Only instants leave the database; bucketing in the practice's zone is done here
        # because SQLite and PostgreSQL share no time zone arithmetic.
        # When clients write: unknown senders, services and relays would blur the picture.
        from_clients = [*inbound, MessageRow.client_id.is_not(None)]
        for (at,) in await connection.execute(select(MessageRow.at).where(*from_clients)):
            local = at.astimezone(tz)
            heatmap[local.weekday()][local.hour] += 1
        total = sum(map(sum, heatmap))
        after_hours = await _count(connection, *from_clients, _flagged("after_hours"))
        # Every crisis counts, an unknown sender's too.
        crisis = await _count(connection, *inbound, _flagged("crisis"))
        replies = (
            select(func.count())
            .select_from(AutoReplyRow)
            .where(AutoReplyRow.at >= since, AutoReplyRow.at < until)
        )
        if mine is not None:
            replies = replies.join(MessageRow, MessageRow.id == AutoReplyRow.message_id).where(mine)
        auto_replies = int((await connection.execute(replies)).scalar_one())
        alert_rows = (
            await connection.execute(select(OutboxRow.created_at, OutboxRow.sent_at).where(*alerts))
        ).all()
    delays = [(row.sent_at - row.created_at).total_seconds() for row in alert_rows if row.sent_at]
    return Overview(
        zone=zone,
        since=since,
        until=until,
        heatmap=tuple(tuple(row) for row in heatmap),
        inbound=total,
        after_hours=after_hours,
        auto_replies=auto_replies,
        crisis=crisis,
        alerts=len(alert_rows),
        alerts_sent=len(delays),
        alert_median_seconds=statistics.median(delays) if delays else None,
        alert_max_seconds=max(delays) if delays else None,
    )
