"""record_spans: the indexes of the newest and oldest record hold the contact and its activity

A day's last visits at a million contacts are a couple of thousand spans, gathered by the index
of their newest record: each span's contact and activity copy were read from the table, a page
of it each (1,900 pages for the inbox's page, 2 ms of its 21), before the contacts were looked
up and sorted (issue 14). Held in the index itself, the spans are read from it alone, and the
list sorts them by the copy they hold.

Revision ID: 0039
Revises: 0038
Create Date: 2026-12-07
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0039"
down_revision: str | None = "0038"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEXES = {
    "ix_record_spans_book_newest": "newest_at",
    "ix_record_spans_book_oldest": "oldest_at",
}


def _rebuild(columns: dict[str, list[str]]) -> None:
    # Dropped and made again (by the same name), so that a run stopped half-way may be run again.
    for name, indexed in columns.items():
        op.drop_index(name, table_name="record_spans", if_exists=True)
        op.create_index(name, "record_spans", indexed)


def upgrade() -> None:
    _rebuild({name: ["book_id", at, "contact_id", "activity_at"] for name, at in INDEXES.items()})


def downgrade() -> None:
    _rebuild({name: ["book_id", at] for name, at in INDEXES.items()})
