"""message filters (F27): customer messages they match arrive read

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from madoguchi.kit.db import UTCDateTime

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "message_filters",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("match", sa.String(length=10), nullable=False),
        sa.Column("text", sa.String(length=200), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_message_filters")),
        sa.UniqueConstraint("match", "text", name=op.f("uq_message_filters_match_text")),
    )


def downgrade() -> None:
    op.drop_table("message_filters")
