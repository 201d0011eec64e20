"""Contact block tokens: the contacts' index and the conversations' entries name the block of
contact ids their contact falls in

The contact list shows the newest contacts first. Searched for a word too rare to be walked for
(a surname one customer in five hundred has) and too common to gather every match and sort
them (two thousand at a million contacts), it checked contacts newest first until it had a page:
49,000 of them for 木下, 230 ms. Each row of the contacts' index and each conversation's entry
now holds a token of its contact's block (2**12 contact ids: search.indexes.contact_token), so
the list looks for the word in the newest block first, then in the ones before (search.planner
.contact_steps), as the inbox does by epochs of activity.

The tokens of the rows already stored are added here, by one rewrite of each table; their GIN
indexes are built again afterwards rather than kept up to date row by row (at a million rows,
that is the difference between minutes and an hour). SQLite has no such tokens: nothing to do.

Revision ID: 0033
Revises: 0032
Create Date: 2026-12-06
"""

from collections.abc import Sequence

from alembic import op
from sqlalchemy import text

revision: str = "0033"
down_revision: str | None = "0032"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# As search.indexes writes them: '@k' and the contact id shifted right by CONTACT_BLOCK_BITS.
BITS = 12
TOKEN = f"('@k' || ({{contact}} >> {BITS}))"
# An entry's epoch token is its last element (search.entries.stored_grams): the contact's goes
# before it.
LAST = "e.grams[array_upper(e.grams, 1)]"
ENTRIES = f"""
UPDATE conversation_search AS e SET grams = CASE
    WHEN {LAST} LIKE '@e%'
    THEN e.grams[1:array_upper(e.grams, 1) - 1] || {TOKEN.format(contact="c.contact_id")} || {LAST}
    ELSE e.grams || {TOKEN.format(contact="c.contact_id")}
END
FROM conversations AS c WHERE c.id = e.conversation_id
"""
CONTACTS = f"UPDATE contact_search SET grams = grams || {TOKEN.format(contact='owner_id')}"
WITHOUT_TOKENS = (
    "UPDATE {table} SET grams = ARRAY(SELECT g FROM unnest(grams) WITH ORDINALITY AS t(g, n) "
    "WHERE g NOT LIKE '@k%' ORDER BY n)"
)
GIN = {
    "contact_search": "ix_contact_search_grams",
    "conversation_search": "ix_conversation_search_grams",
}


def _rewrite(statements: dict[str, str]) -> None:
    """Each table's statement run with its GIN index dropped, and the index built again as it
    was (its definition read back from PostgreSQL)."""
    bind = op.get_bind()
    op.execute("SET LOCAL maintenance_work_mem = '256MB'")
    for table, statement in statements.items():
        index = GIN[table]
        definition = bind.scalar(
            text("SELECT indexdef FROM pg_indexes WHERE indexname = :name"), {"name": index}
        )
        op.execute(f"DROP INDEX {index}")
        op.execute(statement)
        op.execute(definition)


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    _rewrite({"contact_search": CONTACTS, "conversation_search": ENTRIES})


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    _rewrite({table: WITHOUT_TOKENS.format(table=table) for table in GIN})
