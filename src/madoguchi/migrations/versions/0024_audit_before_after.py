"""The audit log says who (a member, a rule, a form, the system), what it was made to, and the
changed fields before and after (issue 12, F40); indexed for filtering by member and by kind.
Older entries keep their ``detail`` and read as made by a member (or the system, unnamed).

Revision ID: 0024
Revises: 0020
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from madoguchi.kit.db import JSONType

revision: str = "0024"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("actor_kind", sa.String(length=20), server_default="member", nullable=False)
        )
        batch_op.add_column(
            sa.Column("subject_name", sa.String(length=200), server_default="", nullable=False)
        )
        batch_op.add_column(sa.Column("before", JSONType, nullable=True))
        batch_op.add_column(sa.Column("after", JSONType, nullable=True))
        batch_op.create_index("ix_audit_log_member_id_id", ["member_id", "id"], unique=False)
        batch_op.create_index("ix_audit_log_action_id", ["action", "id"], unique=False)
    # Entries written with no member and no name were the system's.
    op.execute(
        "UPDATE audit_log SET actor_kind = 'system' WHERE member_id IS NULL AND member_name = ''"
    )


def downgrade() -> None:
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_log_action_id")
        batch_op.drop_index("ix_audit_log_member_id_id")
        batch_op.drop_column("after")
        batch_op.drop_column("before")
        batch_op.drop_column("subject_name")
        batch_op.drop_column("actor_kind")
