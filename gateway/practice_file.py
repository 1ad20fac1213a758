"""The practice file (TOML): parsed and validated as a whole before anything is written."""

from __future__ import annotations

import tomllib
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from pathlib import Path
from typing import Annotated, Final, Literal, Protocol, Self

import holidays
import phonenumbers
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)

from gateway.phones import E164
from rules.schedule import ScheduleError, check_timezone, parse_weekly_hours, parse_window


class PracticeFileError(Exception):
    """A practice file that cannot be imported; one line per problem, each naming its key."""

    def __init__(self, path: str, problems: Sequence[str]) -> None:
        self.path = path
        self.problems = tuple(problems)
        super().__init__("\n".join(f"{path}: {problem}" for problem in problems))


def e164(value: str) -> str:
    """A phone number in E.164 form that `phonenumbers` finds possible (555 numbers pass)."""
    if not E164.fullmatch(value):
        raise ValueError("must be an E.164 phone number such as +15551230001")
    try:
        number = phonenumbers.parse(value, None)
    except phonenumbers.NumberParseException:
        raise ValueError("is not a phone number") from None
    if not phonenumbers.is_possible_number(number):
        raise ValueError("is not a possible phone number for its country code")
    return value


def known_country(value: str) -> str:
    """A country code a practice can be in: the regions phone numbering knows, every ISO
    3166-1 country with phone numbers. "UK" is taken for GB, as the crisis lines do."""
    if value != "UK" and value not in phonenumbers.SUPPORTED_REGIONS:
        raise ValueError(
            f"{value!r} is not the ISO 3166-1 alpha-2 code of a country with phone numbers "
            "(e.g. US, GB)"
        )
    return value


def _timezone(value: str) -> str:
    try:
        return check_timezone(value)
    except ScheduleError as exc:
        raise ValueError(str(exc)) from None


def _window(value: str) -> str:
    try:
        parse_window(0, value)
    except ScheduleError as exc:
        raise ValueError(str(exc)) from None
    return value


def _weekly_hours(value: dict[str, list[str]]) -> dict[str, list[str]]:
    try:
        parse_weekly_hours(value)
    except ScheduleError as exc:
        raise ValueError(str(exc)) from None
    return value


Phone = Annotated[str, AfterValidator(e164)]
TimeZone = Annotated[str, AfterValidator(_timezone)]
WindowText = Annotated[str, AfterValidator(_window)]
WeeklyHours = Annotated[dict[str, list[WindowText]], AfterValidator(_weekly_hours)]
Identifier = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]


def _one_line(value: str) -> str:
    # Names and notes are shown on pages, in forwards and in `token list`-like tables: a
    # control character (a NUL, a line break) would garble or forge what they show.
    if any(unicodedata.category(char) == "Cc" for char in value):
        raise ValueError("must be one line without control characters")
    return value


# A name of spaces names nobody; spaces around one are not part of it.
Name = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=200),
    AfterValidator(_one_line),
]
Note = Annotated[str, Field(max_length=200), AfterValidator(_one_line)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)


class DateRangeIn(_Strict):
    start: date
    end: date
    note: Note = ""

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.end < self.start:
            raise ValueError(f"end {self.end} is before start {self.start}")
        return self


class PracticeIn(_Strict):
    name: Name
    country: str = Field(pattern=r"^[A-Z]{2}$")
    subdivision: str | None = None
    timezone: TimeZone
    # Left out, unknown senders get no reply; an empty one would be a reply of nothing.
    new_contact_reply: (
        Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=600)]
        | None
    ) = None
    on_call: Phone | None = None
    closed: list[DateRangeIn] = []

    @field_validator("country")
    @classmethod
    def _known_country(cls, value: str) -> str:
        return known_country(value)

    @model_validator(mode="after")
    def _known_subdivision(self) -> Self:
        if self.subdivision is None:
            return self
        subdivisions = holidays.list_supported_countries().get(self.country)
        if subdivisions is not None and self.subdivision not in subdivisions:
            if not subdivisions:
                raise ValueError(
                    f"{self.country} has no subdivisions for public holidays: leave it out"
                )
            raise ValueError(
                f"subdivision {self.subdivision!r} is not one of {self.country}'s: "
                + ", ".join(subdivisions)
            )
        return self


class TherapistIn(_Strict):
    id: Identifier
    name: Name
    number: Phone
    forward_to: Phone
    forward: Literal["sms", "notify", "none"] = "notify"
    on_call: Phone | None = None
    timezone: TimeZone | None = None
    # true or false only: "no" or 0 would silently mean false.
    public_holidays: StrictBool = True
    hours: WeeklyHours = {}
    time_off: list[DateRangeIn] = []


class AgreementIn(_Strict):
    hours: WeeklyHours = {}
    note: Note = ""


class ClientIn(_Strict):
    id: Identifier
    name: Name
    phone: Phone
    therapist: Identifier
    agreement: AgreementIn | None = None


class PracticeFile(_Strict):
    practice: PracticeIn
    therapists: list[TherapistIn] = Field(min_length=1)
    clients: list[ClientIn] = []

    @field_validator("therapists", "clients")
    @classmethod
    def _unique_ids(
        cls, entries: list[TherapistIn] | list[ClientIn]
    ) -> list[TherapistIn] | list[ClientIn]:
        seen: set[str] = set()
        for entry in entries:
            if entry.id in seen:
                raise ValueError(f"id {entry.id!r} is used twice")
            seen.add(entry.id)
        return entries

    @model_validator(mode="after")
    def _references(self) -> Self:
        therapist_ids = {therapist.id for therapist in self.therapists}
        numbers = {therapist.number for therapist in self.therapists}
        for therapist in self.therapists:
            for field_name in ("forward_to", "on_call"):
                if getattr(therapist, field_name) in numbers:
                    # Texts to the gateway's own number would come back as inbound messages.
                    raise ValueError(
                        f"therapist {therapist.id!r}: {field_name} is a practice number"
                    )
        if self.practice.on_call in numbers:
            raise ValueError("practice on_call is a practice number")
        staff = staff_phones(self.practice.on_call, self.therapists)
        phones: dict[str, str] = {}
        for client in self.clients:
            if client.phone in staff:
                raise ValueError(f"client {client.id!r}: phone is {staff[client.phone]}")
            if client.therapist not in therapist_ids:
                raise ValueError(
                    f"client {client.id!r}: therapist {client.therapist!r} "
                    "is not defined in [[therapists]]"
                )
            if client.phone in phones:
                raise ValueError(
                    f"client {client.id!r}: phone is the same as client {phones[client.phone]!r}'s"
                )
            phones[client.phone] = client.id
        return self


class _Staff(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def number(self) -> str: ...
    @property
    def forward_to(self) -> str: ...
    @property
    def on_call(self) -> str | None: ...


def staff_phones(practice_on_call: str | None, therapists: Iterable[_Staff]) -> dict[str, str]:
    """The practice's own phones, each with what it is, for the error that names it.

    No client may have one: texts from a therapist's own phone are taken for relays (such a
    client's messages, a crisis included, would never reach the client rules); an on-call
    phone gets crisis alerts naming other clients; a practice number is the gateway itself.
    """
    roles: dict[str, str] = {}
    for therapist in therapists:
        roles.setdefault(
            therapist.forward_to, f'therapist "{therapist.id}"\'s forward_to (their own phone)'
        )
        if therapist.on_call:
            roles.setdefault(therapist.on_call, f'therapist "{therapist.id}"\'s on_call')
        roles.setdefault(therapist.number, f'therapist "{therapist.id}"\'s practice number')
    if practice_on_call:
        roles.setdefault(practice_on_call, "the practice's on_call")
    return roles


def _location(data: Mapping[str, object], loc: Sequence[int | str]) -> str:
    """`therapists[1] (id "lee").hours.fri` from pydantic's location tuple."""
    parts: list[str] = []
    node: object = data
    for item in loc:
        if isinstance(item, int):
            parts[-1] = f"{parts[-1]}[{item}]" if parts else f"[{item}]"
            node = node[item] if isinstance(node, list) and item < len(node) else None
            if isinstance(node, dict) and isinstance(node.get("id"), str):
                parts[-1] += f' (id "{node["id"]}")'
        else:
            parts.append(item)
            node = node.get(item) if isinstance(node, dict) else None
    return ".".join(parts)


def _message(error_type: str, message: str) -> str:
    if error_type == "extra_forbidden":
        return "unknown key"
    if error_type == "missing":
        return "is required"
    if error_type == "model_type":
        # pydantic names the model class ("instance of PracticeIn"), which the file never does.
        return "must be a table of keys (a [section], not [[section]] or a value)"
    if error_type == "string_too_short":
        return "must not be empty"
    return message.removeprefix("Value error, ")


# Far above any practice (20,000 clients take about 2 MiB), far below what would exhaust memory.
MAX_FILE_BYTES: Final = 32 * 1024 * 1024


def _read_regular_file(path: Path) -> bytes:
    """The file's bytes; a device, a pipe or a file too large is refused before reading (a
    pipe would block, /dev/zero would never end)."""
    if path.exists() and not path.is_file() and not path.is_dir():
        raise ValueError("is not a regular file")
    with path.open("rb") as handle:
        raw = handle.read(MAX_FILE_BYTES + 1)
    if len(raw) > MAX_FILE_BYTES:
        raise ValueError(f"is larger than {MAX_FILE_BYTES // (1024 * 1024)} MiB")
    return raw


def parse_practice_file(path: str | Path) -> PracticeFile:
    """The validated file, or a PracticeFileError listing every problem with its key."""
    name = str(path)
    try:
        raw = _read_regular_file(Path(path))
    except OSError as exc:
        raise PracticeFileError(name, [f"cannot be read ({exc.strerror})"]) from None
    except ValueError as exc:
        raise PracticeFileError(name, [str(exc)]) from None
    try:
        # Editors on Windows start UTF-8 files with a byte-order mark, which TOML does not
        # allow; it carries nothing.
        data = tomllib.loads(raw.decode("utf-8").removeprefix("\ufeff"))
    except UnicodeDecodeError:
        raise PracticeFileError(name, ["is not UTF-8 text"]) from None
    except tomllib.TOMLDecodeError as exc:
        raise PracticeFileError(name, [f"is not valid TOML: {exc}"]) from None
    try:
        return PracticeFile.model_validate(data)
    except ValidationError as exc:
        problems = []
        for error in exc.errors(include_url=False, include_input=False):
            where = _location(data, error["loc"])
            text = _message(error["type"], error["msg"])
            problems.append(f"{where}: {text}" if where else text)
        raise PracticeFileError(name, problems) from None
