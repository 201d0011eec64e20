"""ix_contacts_blocked, ix_contacts_mail_opt_in: the few contacts blocked, or taking mail

The inbox or the contact list filtered by 「ブロック中」 or 「メルマガ受信」 read every contact
to find a few (at a million contacts, 90 ms for none), where 非表示 has its partial index
(0032). Each gets one, its condition written as the filter writes it on each database (``IS
true``, SQLite's ``IS 1``), so that each planner sees the query implies it.

Revision ID: 0036
Revises: 0035
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0036"
down_revision: str | None = "0035"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = {"ix_contacts_blocked": "blocked", "ix_contacts_mail_opt_in": "mail_opt_in"}


def upgrade() -> None:
    for index, column in COLUMNS.items():
        op.create_index(
            index,
            "contacts",
            ["id"],
            postgresql_where=sa.text(f"{column} IS true"),
            sqlite_where=sa.text(f"{column} IS 1"),
            if_not_exists=True,
        )


def downgrade() -> None:
    for index in COLUMNS:
        op.drop_index(index, table_name="contacts")
