"""Agreement notes written before they were sealed, moved into their sealed column.

Run by `gateway migrate` after the schema is upgraded (a migration has no keys). Each note is
sealed and its clear copy emptied in one statement, conditional on the clear copy read, so an
import meanwhile is never overwritten; running it again finds nothing to do.
"""

from __future__ import annotations

from sqlalchemy import select, update

from gateway.db.engine import create_engine
from gateway.db.tables import ClientRow
from gateway.settings import Settings
from gateway.vault import Vault


async def seal_legacy_notes(settings: Settings) -> int:
    """How many notes were moved."""
    engine = create_engine(settings.database_url)
    try:
        async with engine.begin() as connection:
            rows = (
                await connection.execute(
                    select(ClientRow.id, ClientRow.agreement_note).where(
                        ClientRow.agreement_note.is_not(None)
                    )
                )
            ).all()
            if not rows:
                return 0
            vault = Vault.from_settings(settings)
            for row in rows:
                await connection.execute(
                    update(ClientRow)
                    .where(ClientRow.id == row.id, ClientRow.agreement_note == row.agreement_note)
                    .values(
                        agreement_note_enc=vault.seal(
                            "clients", "agreement_note", row.id, row.agreement_note
                        ),
                        agreement_note=None,
                    )
                )
        return len(rows)
    finally:
        await engine.dispose()
