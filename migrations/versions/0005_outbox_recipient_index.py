"""outbox: an index on the two numbers of a send, for reconciling a send whose answer was lost

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28 06:00:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_outbox_recipient", "outbox", ["to_index", "from_number"])


def downgrade() -> None:
    op.drop_index("ix_outbox_recipient", table_name="outbox")
