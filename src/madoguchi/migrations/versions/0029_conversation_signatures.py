"""conversation_search.signature: each entry's grams as 2,048 bits, beside its key in one index

A word in many conversations (a common surname, its reading) is found by walking the entries
newest first and checking each; the check read the conversation, its contact and its messages,
rows spread over the whole table, so at a million conversations each row walked cost three
times what it cost at a thousand (their pages no longer in the processor's caches). Each entry
now carries a signature of its texts (search.entries: two bits a gram and two a run of three
characters), kept in the index of its key, so the walk reads only that index's pages, in order,
and the rows of the few entries whose signature holds every bit of the word (docs/benchmarks.md).

The signatures of the entries already stored are computed here in SQL from their grams, as
Python computes a gram's bits, by one rewrite of the table; their runs are not known here, and
the signature says so (an entry rebuilt from its texts, as after a change of its contact's names,
gets them). SQLite walks its FTS5 index instead: nothing to do there.

Revision ID: 0029
Revises: 0028
Create Date: 2026-12-05
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0029"
down_revision: str | None = "0028"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "conversation_search"
INDEX = "ix_conversation_search_seq"
# As search.entries computes a gram's bits: its md5, the first 32 bits as v; bits
# 1 + (v & 65535) % 2047 and 1 + (v >> 16) % 2047 set. PostgreSQL's grams end with the entry's
# epoch token, never a gram. The runs of three characters cannot be known from the grams: the
# leftmost bit, which says they are there, stays unset (such an entry is judged by its grams).
SIGNATURE = """
CREATE FUNCTION madoguchi_signature_0029(grams text[]) RETURNS bit(2048)
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT coalesce(
        bit_or(
            set_bit(
                set_bit(B'0'::bit(2048), 1 + ((v & 65535) % 2047)::int, 1),
                1 + ((v >> 16) % 2047)::int,
                1
            )
        ),
        B'0'::bit(2048)
    )
    FROM (
        SELECT ('x' || substr(md5(g), 1, 8))::bit(32)::bigint AS v
        FROM unnest(grams) AS g
        WHERE g NOT LIKE '@e%'
    ) AS grams_of_entry
$$
"""


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(SIGNATURE)
    # A generated column fills every row in the one rewrite; it then becomes a plain column,
    # which the writers fill themselves.
    op.execute(
        f"ALTER TABLE {TABLE} ADD COLUMN signature bit(2048) NOT NULL "
        "GENERATED ALWAYS AS (madoguchi_signature_0029(grams)) STORED"
    )
    op.execute(f"ALTER TABLE {TABLE} ALTER COLUMN signature DROP EXPRESSION")
    op.execute("DROP FUNCTION madoguchi_signature_0029(text[])")
    op.drop_index(INDEX, table_name=TABLE)
    op.create_index(INDEX, TABLE, ["seq", "conversation_id"], postgresql_include=["signature"])


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.drop_index(INDEX, table_name=TABLE)
    op.create_index(INDEX, TABLE, ["seq", "conversation_id"])
    op.drop_column(TABLE, "signature")
