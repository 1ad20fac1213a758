"""indexes for the delivery worker: the two numbers of a send (reconciling a send whose
answer was lost reads by them), and held messages by delivery time (those that no send
carries, with `forward = "none"`, are released by it)

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
    op.create_index("ix_messages_held", "messages", ["status", "deliver_at"])


def downgrade() -> None:
    op.drop_index("ix_messages_held", table_name="messages")
    op.drop_index("ix_outbox_recipient", table_name="outbox")
