"""ix_messages_mark_conversation holds marked messages only

A mark (F-marks: a colour a member gives a message) is on a few messages; the index of
(mark_id, conversation_id) held a row for every message, NULL for nearly all of them, and each
message written added one (at a million contacts, 81 MB for 6.3 million messages). The filter
by mark asks ``mark_id IN (…)`` and a mark's removal ``mark_id = …``: both imply that mark_id is
set, so the partial index answers them as before.

Revision ID: 0031
Revises: 0030
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0031"
down_revision: str | None = "0030"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEX = "ix_messages_mark_conversation"
MARKED = sa.text("mark_id IS NOT NULL")


def upgrade() -> None:
    op.drop_index(INDEX, table_name="messages")
    op.create_index(
        INDEX,
        "messages",
        ["mark_id", "conversation_id"],
        postgresql_where=MARKED,
        sqlite_where=MARKED,
    )


def downgrade() -> None:
    op.drop_index(INDEX, table_name="messages")
    op.create_index(INDEX, "messages", ["mark_id", "conversation_id"])
