"""未確認 shared by the team (issue 13): one unread row per conversation

A conversation is unread for the team if it was unread for any active member (its count the
highest of theirs). Each member's own rows stay: the lighter "new to me" highlight, or the
unread state itself when the workspace chooses per-member 未確認.

Revision ID: 0020
Revises: 0022
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from madoguchi.kit.db import UTCDateTime

revision: str = "0020"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "conversation_team_unreads",
        sa.Column("conversation_id", sa.Integer(), nullable=False),
        sa.Column("activity_at", UTCDateTime(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name=op.f("fk_conversation_team_unreads_conversation_id_conversations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("conversation_id", name=op.f("pk_conversation_team_unreads")),
    )
    with op.batch_alter_table("conversation_team_unreads", schema=None) as batch_op:
        batch_op.create_index(
            "ix_conversation_team_unreads_activity",
            ["activity_at", "conversation_id"],
            unique=False,
        )
    op.execute(
        sa.text(
            "INSERT INTO conversation_team_unreads (conversation_id, activity_at, count) "
            "SELECT u.conversation_id, MAX(u.activity_at), MAX(u.count) "
            "FROM conversation_unreads u JOIN members m ON m.id = u.member_id "
            "WHERE m.active = :active GROUP BY u.conversation_id"
        ).bindparams(active=True)
    )


def downgrade() -> None:
    with op.batch_alter_table("conversation_team_unreads", schema=None) as batch_op:
        batch_op.drop_index("ix_conversation_team_unreads_activity")
    op.drop_table("conversation_team_unreads")
