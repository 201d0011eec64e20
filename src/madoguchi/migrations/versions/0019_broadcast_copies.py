"""a broadcast's copy in a thread is marked: it neither moves its conversation nor is searched

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-04

Copies recorded before this revision stay ordinary (searched) messages: they are in the search
indexes, and a message's mark must say what the indexes hold.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("messages") as batch_op:
        batch_op.add_column(
            sa.Column("broadcast", sa.Boolean(), server_default=sa.false(), nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("messages") as batch_op:
        batch_op.drop_column("broadcast")
