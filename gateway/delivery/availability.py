"""Whether a held message may go to its therapist now, by the configuration in memory.

A message is held until the next opening computed when it arrived. Availability can change
meanwhile (time off added, hours edited), so it is asked again when the message comes due and
whenever the configuration changes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from gateway.directory import Directory
from gateway.outbox import TO_CLIENT_KINDS
from rules.hours import is_open, next_opening


@dataclass(frozen=True, slots=True)
class ReachableNow:
    pass


@dataclass(frozen=True, slots=True)
class OpensAt:
    at: datetime


@dataclass(frozen=True, slots=True)
class NoOpening:
    """Not reachable within the horizon of `next_opening` (a year)."""


@dataclass(frozen=True, slots=True)
class NotConfigured:
    """The therapist or client is no longer configured: the row goes as it was recorded."""


Availability = ReachableNow | OpensAt | NoOpening | NotConfigured


def availability(
    directory: Directory, therapist_id: str | None, client_id: str | None, now: datetime
) -> Availability:
    therapist = directory.therapists.get(therapist_id) if therapist_id is not None else None
    client = directory.clients.get(client_id) if client_id is not None else None
    if therapist is None or client is None:
        return NotConfigured()
    if is_open(therapist.schedule, now, client.agreement).open:
        return ReachableNow()
    opening = next_opening(therapist.schedule, now, client.agreement)
    if opening is None:
        return NoOpening()
    return OpensAt(opening.at)


def responsible_therapist(
    directory: Directory, kind: str, therapist_id: str | None, client_id: str | None
) -> str | None:
    """Whose hours a send follows: a reply or relay to a client follows the hours of the
    client's therapist as configured now (a client moved to another therapist is reached in
    the new one's hours); a forward or notice, those of the therapist it goes to."""
    if kind in TO_CLIENT_KINDS and client_id is not None:
        client = directory.clients.get(client_id)
        if client is not None:
            return client.therapist_id
    return therapist_id


def availability_of_send(
    directory: Directory, kind: str, therapist_id: str | None, client_id: str | None, now: datetime
) -> Availability:
    responsible = responsible_therapist(directory, kind, therapist_id, client_id)
    return availability(directory, responsible, client_id, now)
