"""forms: アンケート and their answers (issue 11)

Revision ID: 0015
Revises: 0013 (re-pointed to 0014 when both branches are merged)
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from madoguchi.kit.db import JSONType, UTCDateTime

revision: str = "0015"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "forms",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("fields", JSONType, nullable=False),
        sa.Column("closed", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_forms")),
        sa.UniqueConstraint("name", name=op.f("uq_forms_name")),
    )
    op.create_table(
        "form_answers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("form_id", sa.Integer(), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.Column("answers", JSONType, nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["form_id"],
            ["forms.id"],
            name=op.f("fk_form_answers_form_id_forms"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contacts.id"],
            name=op.f("fk_form_answers_contact_id_contacts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_form_answers")),
    )
    op.create_index(op.f("ix_form_answers_form_id"), "form_answers", ["form_id"])
    op.create_index("ix_form_answers_contact", "form_answers", ["contact_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_form_answers_contact", table_name="form_answers")
    op.drop_index(op.f("ix_form_answers_form_id"), table_name="form_answers")
    op.drop_table("form_answers")
    op.drop_table("forms")
