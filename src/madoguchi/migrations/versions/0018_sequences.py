"""step sequences (ステップ配信, F32) and who is at which step (issue 11)

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from madoguchi.kit.db import JSONType, UTCDateTime

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "step_sequences",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("trigger_kind", sa.String(length=30), nullable=False),
        sa.Column("trigger_subject_id", sa.Integer(), nullable=True),
        sa.Column("steps", JSONType, nullable=False),
        sa.Column("stop_on_reply", sa.Boolean(), nullable=False),
        sa.Column("stop_segment_id", sa.Integer(), nullable=True),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("off_reason", sa.Text(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_step_sequences")),
        sa.UniqueConstraint("name", name=op.f("uq_step_sequences_name")),
    )
    op.create_table(
        "sequence_enrollments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sequence_id", sa.Integer(), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=8), nullable=False),
        sa.Column("next_at", UTCDateTime(), nullable=True),
        sa.Column("detail", sa.String(length=500), nullable=False),
        sa.Column("message_id", sa.Integer(), nullable=True),
        sa.Column("started_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["sequence_id"],
            ["step_sequences.id"],
            name=op.f("fk_sequence_enrollments_sequence_id_step_sequences"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contacts.id"],
            name=op.f("fk_sequence_enrollments_contact_id_contacts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sequence_enrollments")),
    )
    op.create_index(
        op.f("ix_sequence_enrollments_sequence_id"), "sequence_enrollments", ["sequence_id"]
    )
    op.create_index("ix_sequence_enrollments_due", "sequence_enrollments", ["state", "next_at"])
    op.create_index(
        "ix_sequence_enrollments_contact", "sequence_enrollments", ["contact_id", "state"]
    )
    op.create_index(
        "uq_sequence_enrollments_active",
        "sequence_enrollments",
        ["sequence_id", "contact_id"],
        unique=True,
        sqlite_where=sa.text("state = 'active'"),
        postgresql_where=sa.text("state = 'active'"),
    )


def downgrade() -> None:
    op.drop_index("uq_sequence_enrollments_active", table_name="sequence_enrollments")
    op.drop_index("ix_sequence_enrollments_contact", table_name="sequence_enrollments")
    op.drop_index("ix_sequence_enrollments_due", table_name="sequence_enrollments")
    op.drop_index(op.f("ix_sequence_enrollments_sequence_id"), table_name="sequence_enrollments")
    op.drop_table("sequence_enrollments")
    op.drop_table("step_sequences")
