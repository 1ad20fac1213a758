"""`gateway keys rotate`: re-encrypt every sealed column under the ring's primary key.

Runs in small transactions so the gateway keeps writing meanwhile, and can be stopped and run
again: values already under the primary key are left alone. Each update is conditional on the
value read, so a value rewritten meanwhile (an import, a purge) is never overwritten with a
stale copy.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from sqlalchemy import Column, LargeBinary, Table, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from gateway.audit.chain import JSONValue
from gateway.audit.store import AuditEvent, append_events
from gateway.crypto import DecryptionError, KeyRing, aad
from gateway.db.engine import reader
from gateway.db.tables import Base

BATCH_SIZE: Final = 500
_SEALED_SUFFIX: Final = "_enc"


@dataclass(frozen=True, slots=True)
class SealedColumn:
    """A column of values sealed with aad (table, column name without `_enc`, row id)."""

    table: Table
    column: Column[bytes]
    row_id: Column[object]

    @property
    def label(self) -> str:
        return f"{self.table.name}.{self.aad_column}"

    @property
    def aad_column(self) -> str:
        return self.column.name.removesuffix(_SEALED_SUFFIX)


@dataclass(frozen=True, slots=True)
class Progress:
    column: str
    done: int
    total: int


@dataclass(frozen=True, slots=True)
class Unreadable:
    """A value that could not be decrypted: named by column, row id and key id only."""

    column: str
    row_id: str
    reason: str


@dataclass(frozen=True, slots=True)
class ColumnRotation:
    column: str
    total: int
    rotated: int
    already_current: int
    changed_meanwhile: int
    unreadable: int


@dataclass(frozen=True, slots=True)
class RotationSummary:
    key_id: str
    columns: tuple[ColumnRotation, ...]
    unreadable: tuple[Unreadable, ...]

    @property
    def rotated(self) -> int:
        return sum(item.rotated for item in self.columns)

    @property
    def complete(self) -> bool:
        """Every value is now under the primary key, as far as this run could tell."""
        return not self.unreadable and not any(item.changed_meanwhile for item in self.columns)


ProgressSink = Callable[[Progress], None]


def sealed_columns() -> tuple[SealedColumn, ...]:
    """Every `*_enc` binary column of the schema, so a new sealed column cannot be missed."""
    return tuple(
        SealedColumn(table, column, _row_id(table))
        for table in Base.metadata.sorted_tables
        for column in table.columns
        if isinstance(column.type, LargeBinary) and column.name.endswith(_SEALED_SUFFIX)
    )


def _row_id(table: Table) -> Column[object]:
    (row_id,) = table.primary_key.columns
    return row_id


class _ColumnRotator:
    def __init__(self, sealed: SealedColumn, keys: KeyRing, batch_size: int) -> None:
        self._sealed = sealed
        self._keys = keys
        self._batch_size = batch_size
        self.done = 0
        self.rotated = 0
        self.already_current = 0
        self.changed_meanwhile = 0
        self.unreadable: list[Unreadable] = []

    async def count(self, connection: AsyncConnection) -> int:
        sealed = self._sealed
        statement = select(func.count()).select_from(sealed.table).where(sealed.column.is_not(None))
        return int((await connection.execute(statement)).scalar_one())

    async def batch(self, connection: AsyncConnection, after: object | None) -> object | None:
        """Rotates the next batch in key order; the last key seen, or None at the end."""
        sealed = self._sealed
        statement = (
            select(sealed.row_id, sealed.column)
            .where(sealed.column.is_not(None))
            .order_by(sealed.row_id)
            .limit(self._batch_size)
        )
        if after is not None:
            statement = statement.where(sealed.row_id > after)
        rows = (await connection.execute(statement)).all()
        for row_id, blob in rows:
            await self._rotate(connection, row_id, blob)
        self.done += len(rows)
        return rows[-1][0] if len(rows) == self._batch_size else None

    async def _rotate(self, connection: AsyncConnection, row_id: object, blob: bytes) -> None:
        sealed, keys = self._sealed, self._keys
        row_aad = aad(sealed.table.name, sealed.aad_column, str(row_id))
        try:
            if keys.key_id_of(blob) == keys.primary_id:
                self.already_current += 1
                return
            plaintext = keys.decrypt(blob, row_aad)
        except DecryptionError as exc:
            self.unreadable.append(Unreadable(sealed.label, str(row_id), str(exc)))
            return
        result = await connection.execute(
            update(sealed.table)
            .where(sealed.row_id == row_id, sealed.column == blob)
            .values({sealed.column.name: keys.encrypt(plaintext, row_aad)})
        )
        if result.rowcount == 1:
            self.rotated += 1
        else:
            self.changed_meanwhile += 1

    def summary(self, total: int) -> ColumnRotation:
        return ColumnRotation(
            column=self._sealed.label,
            total=total,
            rotated=self.rotated,
            already_current=self.already_current,
            changed_meanwhile=self.changed_meanwhile,
            unreadable=len(self.unreadable),
        )


async def rotate_keys(
    engine: AsyncEngine,
    keys: KeyRing,
    *,
    now: datetime,
    actor: str,
    batch_size: int = BATCH_SIZE,
    progress: ProgressSink | None = None,
) -> RotationSummary:
    """Re-encrypts every sealed value that is not under `keys.primary_id`; audited once."""
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    columns: list[ColumnRotation] = []
    unreadable: list[Unreadable] = []
    for sealed in sealed_columns():
        rotator = _ColumnRotator(sealed, keys, batch_size)
        async with reader(engine).connect() as connection:
            total = await rotator.count(connection)
        if progress is not None:
            progress(Progress(sealed.label, 0, total))
        after: object | None = None
        while True:
            async with engine.begin() as connection:
                after = await rotator.batch(connection, after)
            if progress is not None:
                # Rows written after the count would otherwise show as more than 100%.
                progress(Progress(sealed.label, rotator.done, max(total, rotator.done)))
            if after is None:
                break
        columns.append(rotator.summary(total))
        unreadable.extend(rotator.unreadable)
    summary = RotationSummary(keys.primary_id, tuple(columns), tuple(unreadable))
    async with engine.begin() as connection:
        await append_events(
            connection, [AuditEvent(now, actor, "keys_rotated", None, _audit_details(summary))]
        )
    return summary


def _audit_details(summary: RotationSummary) -> dict[str, JSONValue]:
    return {
        "key_id": summary.key_id,
        "rotated": {item.column: item.rotated for item in summary.columns},
        "already_current": sum(item.already_current for item in summary.columns),
        "changed_meanwhile": sum(item.changed_meanwhile for item in summary.columns),
        "unreadable": len(summary.unreadable),
    }
