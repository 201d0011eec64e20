"""conversation_search.grams compressed with lz4 where PostgreSQL has it

A conversation's entry holds about 200 grams (2.1 kB as an array), more than fits in a row
uncompressed, so PostgreSQL compresses each one as it is written, and again each time a search
re-checks an entry. With its default (pglz) writing 30,000 entries took 1.3 s against 0.5 s with
lz4, and re-checking a gram in 60,000 of them 0.36 s against 0.29 s; lz4 keeps them 11 % larger
(1,490 bytes against 1,340). At a million conversations the loader's COPY compressed each entry
(docs/benchmarks.md). Entries stored before keep pglz until they are written again; both read
the same. A server built without lz4 keeps pglz. SQLite: nothing to do.

Revision ID: 0030
Revises: 0029
Create Date: 2026-12-06
"""

from collections.abc import Sequence

from alembic import op
from sqlalchemy import text

revision: str = "0030"
down_revision: str | None = "0029"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "conversation_search"
# Whether the server can compress with lz4 (built --with-lz4): the setting lists it then.
HAS_LZ4 = text(
    "SELECT 'lz4' = ANY(enumvals) FROM pg_settings WHERE name = 'default_toast_compression'"
)


def _compress(method: str) -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql" or not bind.scalar(HAS_LZ4):
        return
    op.execute(f"ALTER TABLE {TABLE} ALTER COLUMN grams SET COMPRESSION {method}")


def upgrade() -> None:
    _compress("lz4")


def downgrade() -> None:
    _compress("default")
