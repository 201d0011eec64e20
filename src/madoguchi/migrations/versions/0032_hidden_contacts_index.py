"""ix_contacts_hidden: the hidden contacts, for 非表示中

非表示中 lists the conversations of hidden contacts. Nothing indexed ``hidden``, so the view read
every contact to find them (at a million contacts, 57 ms for none). A partial index holds the
hidden ones alone: a few rows, read at once, whatever the number of contacts. Its condition is
written as the view's query writes it on each database (``IS true``, SQLite's ``IS 1``), so
that each planner sees the query implies it.

Revision ID: 0032
Revises: 0031
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0032"
down_revision: str | None = "0031"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEX = "ix_contacts_hidden"


def upgrade() -> None:
    op.create_index(
        INDEX,
        "contacts",
        ["id"],
        postgresql_where=sa.text("hidden IS true"),
        sqlite_where=sa.text("hidden IS 1"),
    )


def downgrade() -> None:
    op.drop_index(INDEX, table_name="contacts")
