"""grams in COLLATE "C": PostgreSQL's search columns compare their grams byte by byte

A GIN index over text compares its keys with the column's collation; under the database's
(C.UTF-8, en_US.UTF-8…) each comparison goes through strcoll, and keeping the index as texts come
in cost about 2.3 times what it costs with memcmp (measured on 10,000 conversation entries:
docs/benchmarks.md). Grams are only ever compared for equality, and equality under a
deterministic collation is byte equality, so no search finds anything else. Each table is
rewritten and its indexes rebuilt once (a large history takes a while). SQLite's FTS5 tables
have no collation: nothing to do there.

Revision ID: 0028
Revises: 0027
Create Date: 2026-12-04
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0028"
down_revision: str | None = "0027"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("message_search", "contact_search", "conversation_search")


def _collate(collation: str) -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in TABLES:
        op.execute(f'ALTER TABLE {table} ALTER COLUMN grams TYPE text[] COLLATE "{collation}"')


def upgrade() -> None:
    _collate("C")


def downgrade() -> None:
    _collate("default")
