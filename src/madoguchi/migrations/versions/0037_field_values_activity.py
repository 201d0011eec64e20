"""field_values.activity_at: each profile value keeps a copy of its contact's latest activity

The inbox filtered by a profile field (性別 is その他, 生年月日 after 1990) walked the
conversations newest first and looked up each one's contact's value: as many look-ups as the
value is rare, each dearer among a million values than among a thousand (issue 14: 1.51 and 1.38
times the time at a thousand, in pages of five). As a tagging does (``contact_tags``), a value
now keeps a copy of its contact's activity, kept up to date at every message, and the list walks
the field's values newest first in ``ix_field_values_field_activity``, checking each.

Revision ID: 0037
Revises: 0036
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from madoguchi.kit.db import UTCDateTime

revision: str = "0037"
down_revision: str | None = "0036"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEX = "ix_field_values_field_activity"


def upgrade() -> None:
    # Each step may be done already: 0034's VACUUM commits what came before it, and a run
    # stopped after it takes every revision from 0034 again.
    held = {column["name"] for column in sa.inspect(op.get_bind()).get_columns("field_values")}
    if "activity_at" not in held:
        op.add_column("field_values", sa.Column("activity_at", UTCDateTime(), nullable=True))
    op.execute(
        "UPDATE field_values SET activity_at = (SELECT activity_at FROM contacts "
        "WHERE contacts.id = field_values.contact_id)"
    )
    # Made after the copy: one build of the index, not a million updates of it.
    op.create_index(
        INDEX, "field_values", ["field_id", "activity_at", "contact_id"], if_not_exists=True
    )


def downgrade() -> None:
    op.drop_index(INDEX, table_name="field_values")
    with op.batch_alter_table("field_values", schema=None) as batch_op:
        batch_op.drop_column("activity_at")
