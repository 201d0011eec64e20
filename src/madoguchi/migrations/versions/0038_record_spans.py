"""record_spans: each contact's records of a book summed up (newest, oldest), with its activity

The inbox filtered by a contact's newest or oldest record (最終来店日: the last visit sixty days
ago, or within two months) read the records of each contact it walked, or gathered the contacts
of a range's records and looked each one's conversations up before sorting them: at a million
contacts 4.4 times the time at a thousand for a day's visits, 1.5 times for two months (issue
14). A span is one row a contact and book, with a copy of the contact's latest activity as a
tagging keeps one: the list walks a book's spans newest first, or gathers the few whose newest
(or oldest) record is in the range by their own index, and sorts them by the copy they hold.

Revision ID: 0038
Revises: 0037
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from madoguchi.kit.db import UTCDateTime

revision: str = "0038"
down_revision: str | None = "0037"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEXES = {
    "ix_record_spans_book_activity": ["book_id", "activity_at", "contact_id"],
    "ix_record_spans_book_newest": ["book_id", "newest_at"],
    "ix_record_spans_book_oldest": ["book_id", "oldest_at"],
}


def upgrade() -> None:
    # Each step may be done already: 0034's VACUUM commits what came before it, and a run
    # stopped after it takes every revision from 0034 again.
    if not sa.inspect(op.get_bind()).has_table("record_spans"):
        op.create_table(
            "record_spans",
            sa.Column("contact_id", sa.Integer(), nullable=False),
            sa.Column("book_id", sa.Integer(), nullable=False),
            sa.Column("newest_at", UTCDateTime(), nullable=False),
            sa.Column("oldest_at", UTCDateTime(), nullable=False),
            sa.Column("activity_at", UTCDateTime(), nullable=True),
            sa.ForeignKeyConstraint(
                ["book_id"],
                ["record_books.id"],
                name=op.f("fk_record_spans_book_id_record_books"),
                ondelete="CASCADE",
            ),
            sa.ForeignKeyConstraint(
                ["contact_id"],
                ["contacts.id"],
                name=op.f("fk_record_spans_contact_id_contacts"),
                ondelete="CASCADE",
            ),
            sa.PrimaryKeyConstraint("contact_id", "book_id", name=op.f("pk_record_spans")),
        )
    op.execute("DELETE FROM record_spans")
    op.execute(
        "INSERT INTO record_spans (contact_id, book_id, newest_at, oldest_at, activity_at) "
        "SELECT records.contact_id, records.book_id, max(records.at), min(records.at), "
        "max(contacts.activity_at) FROM records JOIN contacts ON contacts.id = records.contact_id "
        "GROUP BY records.contact_id, records.book_id"
    )
    # Made after the rows: one build of each index, not a million updates of them.
    for name, columns in INDEXES.items():
        op.create_index(name, "record_spans", columns, if_not_exists=True)


def downgrade() -> None:
    for name in INDEXES:
        op.drop_index(name, table_name="record_spans")
    op.drop_table("record_spans")
