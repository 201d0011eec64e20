"""ix_contacts_email_parts, ix_contacts_phone_parts: an address or a number found by a part of it

「メールアドレス」 or 「電話番号」 containing a text (``crm.filters._contact_text``) looks for the
contacts that hold it first: no index served a part of a word, so each address there was read,
0.18 s a request with 100,000 addresses among a million contacts against 3 ms at a thousand
(issue 14). PostgreSQL's pg_trgm indexes the runs of three characters of each lower-cased
address and number (GIN), which the filter's ``lower(column) LIKE '%text%'`` reads for a text
of three characters or more (and ``=`` as well). Made where pg_trgm can be: installed already,
or installable by this role (a trusted extension from PostgreSQL 13 on: the database's owner
may). Elsewhere the filter reads the addresses as before, and a warning says so. Nothing on
SQLite, whose LIKE no index serves.

Revision ID: 0040
Revises: 0039
Create Date: 2026-12-07
"""

import logging
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0040"
down_revision: str | None = "0039"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

log = logging.getLogger(__name__)

INDEXES = {"ix_contacts_email_parts": "email", "ix_contacts_phone_parts": "phone"}


def _trigrams(bind: sa.Connection) -> bool:
    """Whether pg_trgm is there, made now if it can be (in a savepoint: a refusal leaves the
    migration's transaction as it was)."""
    if bind.execute(sa.text("SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm'")).first():
        return True
    try:
        with bind.begin_nested():
            bind.execute(sa.text("CREATE EXTENSION IF NOT EXISTS pg_trgm"))
    except sa.exc.DBAPIError as error:
        log.warning(
            "pg_trgm could not be made (%s): addresses and phone numbers searched by a part "
            "are read one by one. A superuser may make it and its indexes later: "
            "docs/deployment.md, PostgreSQL + Redis.",
            str(error.orig).strip() or type(error.orig).__name__,
        )
        return False
    return True


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql" or not _trigrams(bind):
        return
    # No pending list, as the search's own GIN indexes (0007): a search would read every
    # address written since the last merge, and the planner counts that against the index.
    for name, column in INDEXES.items():
        op.execute(
            f"CREATE INDEX IF NOT EXISTS {name} ON contacts "
            f"USING gin (lower({column}) gin_trgm_ops) WITH (fastupdate = off) "
            f"WHERE {column} IS NOT NULL"
        )


def downgrade() -> None:
    # pg_trgm stays: another may use it.
    for name in INDEXES:
        op.drop_index(name, table_name="contacts", if_exists=True)
