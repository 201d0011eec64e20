"""Statistics (F39): a row of facts per conversation and message counts per day

Filled as messages are recorded; ``madoguchi stats rebuild`` fills them from the messages
stored before this revision (the migration leaves them empty: a rebuild may take minutes).

Revision ID: 0023
Revises: 0025
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from madoguchi.kit.db import UTCDateTime

revision: str = "0023"
down_revision: str | None = "0025"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "stats_conversations",
        sa.Column("conversation_id", sa.Integer(), nullable=False),
        sa.Column("channel_id", sa.Integer(), nullable=False),
        sa.Column("assignee_id", sa.Integer(), nullable=True),
        sa.Column("opened_at", UTCDateTime(), nullable=False),
        sa.Column("opened_day", sa.Date(), nullable=False),
        sa.Column("first_inbound_at", UTCDateTime(), nullable=True),
        sa.Column("first_response_at", UTCDateTime(), nullable=True),
        sa.Column("first_response_seconds", sa.Integer(), nullable=True),
        sa.Column("closed_at", UTCDateTime(), nullable=True),
        sa.Column("closed_day", sa.Date(), nullable=True),
        sa.Column("resolution_seconds", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name=op.f("fk_stats_conversations_conversation_id_conversations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("conversation_id", name=op.f("pk_stats_conversations")),
    )
    with op.batch_alter_table("stats_conversations", schema=None) as batch_op:
        batch_op.create_index(
            "ix_stats_conversations_opened_day",
            [
                "opened_day",
                "channel_id",
                "assignee_id",
                "first_response_seconds",
                "conversation_id",
            ],
            unique=False,
        )
        batch_op.create_index(
            "ix_stats_conversations_closed_day",
            ["closed_day", "channel_id", "assignee_id", "resolution_seconds", "conversation_id"],
            unique=False,
        )
    op.create_table(
        "stats_days",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("channel_id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("messages_in", sa.Integer(), nullable=False),
        sa.Column("messages_out", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("day", "channel_id", "member_id", name=op.f("pk_stats_days")),
    )


def downgrade() -> None:
    op.drop_table("stats_days")
    with op.batch_alter_table("stats_conversations", schema=None) as batch_op:
        batch_op.drop_index("ix_stats_conversations_closed_day")
        batch_op.drop_index("ix_stats_conversations_opened_day")
    op.drop_table("stats_conversations")
