"""search without a pending list: PostgreSQL's GIN search indexes write each new text straight
into the index (fastupdate off) instead of a pending list every search reads through until a
vacuum tidies it, which made a rare name cost as much as a scan of the last few thousand
messages

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-25
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEXES = ("ix_message_search_grams", "ix_contact_search_grams")


def _fastupdate(on: bool) -> None:
    if op.get_bind().dialect.name != "postgresql":
        return  # SQLite's FTS5 tables have no pending list.
    for name in INDEXES:
        op.execute(f"ALTER INDEX {name} SET (fastupdate = {'on' if on else 'off'})")
        if not on:
            # What already waits in the pending list moves into the index now.
            op.execute(f"SELECT gin_clean_pending_list('{name}'::regclass)")


def upgrade() -> None:
    _fastupdate(on=False)


def downgrade() -> None:
    _fastupdate(on=True)
