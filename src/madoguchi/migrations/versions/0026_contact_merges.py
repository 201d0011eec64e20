"""contact_merges: what each merge of two contacts did, so that it can be undone (F43)

Merges made before this revision have no row: they cannot be undone.

Revision ID: 0026
Revises: 0023
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from madoguchi.kit.db import JSONType, UTCDateTime

revision: str = "0026"
down_revision: str | None = "0023"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "contact_merges",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kept_id", sa.Integer(), nullable=False),
        sa.Column("merged_id", sa.Integer(), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=True),
        sa.Column("actor_name", sa.String(length=100), nullable=False),
        sa.Column("journal", JSONType, nullable=False),
        sa.Column("undone_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["kept_id"],
            ["contacts.id"],
            name=op.f("fk_contact_merges_kept_id_contacts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["merged_id"],
            ["contacts.id"],
            name=op.f("fk_contact_merges_merged_id_contacts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["members.id"],
            name=op.f("fk_contact_merges_member_id_members"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contact_merges")),
    )
    with op.batch_alter_table("contact_merges") as batch_op:
        batch_op.create_index(batch_op.f("ix_contact_merges_kept_id"), ["kept_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_contact_merges_merged_id"), ["merged_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("contact_merges") as batch_op:
        batch_op.drop_index(batch_op.f("ix_contact_merges_merged_id"))
        batch_op.drop_index(batch_op.f("ix_contact_merges_kept_id"))
    op.drop_table("contact_merges")
