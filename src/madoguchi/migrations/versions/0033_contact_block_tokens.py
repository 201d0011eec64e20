"""Contact block tokens: the contacts' index and the conversations' entries name the block of
contact ids their contact falls in

The contact list shows the newest contacts first. Searched for a word too rare to be walked for
(a surname one customer in five hundred has) and too common to gather every match and sort
them (two thousand at a million contacts), it checked contacts newest first until it had a page:
49,000 of them for 木下, 230 ms. Each row of the contacts' index and each conversation's entry
now holds a token of its contact's block (2**12 contact ids: search.indexes.contact_token), so
the list looks for the word in the newest block first, then in the ones before (search.planner
.contact_steps), as the inbox does by epochs of activity.

The tokens of the rows already stored are added here, by one rewrite of each table (a change
of the column's type to the same type, each row's tokens put in on the way): the tables come out
as compact as they went in and their indexes are built again from them, then analysed. An UPDATE
of every row left the entries' table twice its size at a million (1.6 -> 3.1 GB) and kept each
index up to date row by row (4:20). The tables are locked meanwhile: 2:17 at a million contacts
on the benchmark machine (2:30 going down). SQLite has no such tokens: nothing to do.

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
# before it. A function, as a column's new value may not hold a subquery.
ENTRY_TOKENS = f"""
CREATE FUNCTION madoguchi_tokens_0033(conversation integer, grams text[]) RETURNS text[]
LANGUAGE sql STABLE AS $$
    SELECT CASE
        WHEN grams[array_upper(grams, 1)] LIKE '@e%'
        THEN grams[1:array_upper(grams, 1) - 1] || {TOKEN.format(contact="c.contact_id")}
            || grams[array_upper(grams, 1)]
        ELSE grams || {TOKEN.format(contact="c.contact_id")}
    END
    FROM conversations AS c WHERE c.id = conversation
$$
"""
# Going down: the contact's token is the last of a contact's grams, and the one before the last
# of an entry's (before its epoch token).
LAST = "array_upper(grams, 1)"
WITHOUT_TOKENS = {
    "contact_search": f"CASE WHEN grams[{LAST}] LIKE '@k%' THEN grams[1:{LAST} - 1] ELSE grams END",
    "conversation_search": (
        f"CASE WHEN grams[{LAST} - 1] LIKE '@k%' "
        f"THEN grams[1:{LAST} - 2] || grams[{LAST}] ELSE grams END"
    ),
}


# pg_attribute.attcompression: a column's compression, where one was set (0030: the entries').
COMPRESSION = text(
    "SELECT attcompression::text FROM pg_attribute "
    "WHERE attrelid = CAST(:table AS regclass) AND attname = 'grams'"
)
METHODS = {"l": "lz4", "p": "pglz"}


def _rewrite(table: str, value: str) -> None:
    """Every row's grams rewritten as ``value`` (SQL of the row's columns). A change of type
    forgets the column's compression: it is set again in the same statement, so the rows are
    written with it (lz4 for the entries: migration 0030). It forgets the column's statistics
    too, which the search planner reads (search.indexes.estimated_share), and nothing would
    count the rewrite as changes worth analysing again: the table is analysed here."""
    method = METHODS.get(op.get_bind().scalar(COMPRESSION, {"table": table}) or "")
    keep = f", ALTER COLUMN grams SET COMPRESSION {method}" if method else ""
    op.execute(
        f'ALTER TABLE {table} ALTER COLUMN grams TYPE text[] COLLATE "C" USING {value}{keep}'
    )
    op.execute(f"ANALYZE {table}")


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("SET LOCAL maintenance_work_mem = '256MB'")
    _rewrite("contact_search", f"grams || {TOKEN.format(contact='owner_id')}")
    op.execute(ENTRY_TOKENS)
    # An entry of a conversation deleted meanwhile cannot be: entries go with them.
    _rewrite("conversation_search", "madoguchi_tokens_0033(conversation_id, grams)")
    op.execute("DROP FUNCTION madoguchi_tokens_0033(integer, text[])")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("SET LOCAL maintenance_work_mem = '256MB'")
    for table, value in WITHOUT_TOKENS.items():
        _rewrite(table, value)
