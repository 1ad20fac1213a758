"""The practice's configuration in memory, indexed for the webhook's hot path.

Every process polls the configuration version every few seconds and rebuilds its snapshot
when it changed, so imports and API edits anywhere are seen everywhere without a restart,
and the webhook never reads configuration from the database.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date

import holidays

from gateway.practice_config import ClientInfo, Period, PracticeConfig, TherapistInfo
from gateway.vault import Vault
from rules.model import Client, Practice, Therapist
from rules.schedule import DateRange, Schedule, Window, parse_weekly_hours


def public_holidays(country: str, subdivision: str | None) -> Mapping[date, str]:
    """The `holidays` calendar of the country (empty where the package has none)."""
    try:
        calendar: Mapping[date, str] = holidays.country_holidays(country, subdiv=subdivision)
    except NotImplementedError:
        return {}
    return calendar


@dataclass(frozen=True, slots=True)
class Directory:
    config: PracticeConfig
    practice: Practice | None
    therapists: Mapping[str, Therapist]
    clients: Mapping[str, Client]
    therapists_by_number: Mapping[str, tuple[str, ...]]
    client_by_phone_index: Mapping[str, str]
    therapists_by_phone_index: Mapping[str, tuple[str, ...]]
    practice_numbers: frozenset[str] = field(default_factory=frozenset)
    opted_out: frozenset[str] = field(default_factory=frozenset)
    opted_out_clients: frozenset[str] = field(default_factory=frozenset)

    @property
    def version(self) -> int:
        return self.config.version

    def therapist_info(self, therapist_id: str) -> TherapistInfo:
        return self.config.therapists[therapist_id]

    def client_info(self, client_id: str) -> ClientInfo:
        return self.config.clients[client_id]


def _ranges(periods: tuple[Period, ...]) -> tuple[DateRange, ...]:
    return tuple(DateRange(period.start, period.end, period.note) for period in periods)


def build_directory(config: PracticeConfig, vault: Vault) -> Directory:
    practice = None
    closures: tuple[DateRange, ...] = ()
    calendar: Mapping[date, str] = {}
    if config.practice is not None:
        info = config.practice
        practice = Practice(
            info.name,
            info.country,
            info.timezone,
            info.new_contact_reply,
            has_on_call=info.on_call is not None,
        )
        closures = _ranges(info.closed)
        calendar = public_holidays(info.country, info.subdivision)
    therapists: dict[str, Therapist] = {}
    by_number: dict[str, list[str]] = {}
    by_phone: dict[str, list[str]] = {}
    for therapist in config.therapists.values():
        schedule = Schedule(
            timezone=therapist.timezone,
            hours=parse_weekly_hours(therapist.hours),
            time_off=_ranges(therapist.time_off),
            closures=closures,
            holidays=calendar if therapist.public_holidays else {},
        )
        therapists[therapist.id] = Therapist(
            therapist.id, therapist.name, therapist.forward, schedule
        )
        by_number.setdefault(therapist.number, []).append(therapist.id)
        by_phone.setdefault(vault.phone_index(therapist.forward_to), []).append(therapist.id)
    clients: dict[str, Client] = {}
    client_by_phone: dict[str, str] = {}
    for client in config.clients.values():
        agreement: tuple[Window, ...] = parse_weekly_hours(client.agreement_hours or {})
        clients[client.id] = Client(client.id, client.therapist_id, agreement)
        client_by_phone[vault.phone_index(client.phone)] = client.id
    return Directory(
        config=config,
        practice=practice,
        therapists=therapists,
        clients=clients,
        therapists_by_number={number: tuple(ids) for number, ids in by_number.items()},
        client_by_phone_index=client_by_phone,
        therapists_by_phone_index={index: tuple(ids) for index, ids in by_phone.items()},
        practice_numbers=frozenset(by_number),
        opted_out=config.opted_out,
        opted_out_clients=frozenset(
            client_id for index, client_id in client_by_phone.items() if index in config.opted_out
        ),
    )
