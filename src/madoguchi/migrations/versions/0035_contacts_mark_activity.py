"""ix_contacts_mark_activity: the contacts of a mark, newest first

The inbox filtered by a mark (対応マーク) walked the conversations newest first and checked
each one's contact: as many rows as the mark is rare (a mark on 6,300 of a million contacts:
8,000 conversations for a page). As a status, a mark now drives the list where no message
carries it: its contacts are walked by their latest activity in this index, as
``ix_contacts_status_activity`` serves a status (conversations.repository). The index on the
mark alone is a prefix of it, and goes.

Revision ID: 0035
Revises: 0034
Create Date: 2026-12-07
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0035"
down_revision: str | None = "0034"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEX = "ix_contacts_mark_activity"
OLD = "ix_contacts_mark_id"


def upgrade() -> None:
    # Either may be done already: 0034's VACUUM commits what came before it, and a run stopped
    # after it takes every revision from 0034 again.
    op.create_index(INDEX, "contacts", ["mark_id", "activity_at", "id"], if_not_exists=True)
    op.drop_index(OLD, table_name="contacts", if_exists=True)


def downgrade() -> None:
    op.create_index(OLD, "contacts", ["mark_id"])
    op.drop_index(INDEX, table_name="contacts")
