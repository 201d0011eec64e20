"""stats_days: room on each page for a row's next versions (PostgreSQL)

Every message adds to its day's row of counts (stats.rollup.add_counts), and a row changed is
a new version of it. With the pages full, each new version went to another page and into the
primary key's index again: a day's row changed a thousand times left a thousand entries there,
each read by the next change to find the live one. Loading a million contacts changed the
6,520 rows 1.4 million times; their changes then read 432 million pages (issue 14). A page
filled to a fifth keeps a row's next versions beside it (a "heap-only" update: no new index
entry), and PostgreSQL clears the dead ones when it next reads the page. SQLite changes a row
in place.

Revision ID: 0041
Revises: 0040
Create Date: 2026-12-07
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0041"
down_revision: str | None = "0040"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Of each page, the share (percent) new rows fill; the rest is room for versions.
FILLFACTOR = 20


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"ALTER TABLE stats_days SET (fillfactor = {FILLFACTOR})")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE stats_days RESET (fillfactor)")
