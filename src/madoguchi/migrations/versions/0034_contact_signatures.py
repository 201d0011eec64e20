"""contacts.signature: each contact's texts as 2,048 bits, kept in the index of its reading

The contact list in 五十音順 searched for a name walks the contacts by their reading and checks
each: its names on its row, then each of its conversations' messages, through two indexes and
their rows. At a million contacts each contact walked cost three times what it cost at a
thousand (docs/benchmarks.md, the twenty-third session), most of it in those look-ups. A contact
now carries the signature of its conversations' entries together (search.entries, which hold
its names as well as its messages), kept in the reading index beside the reading, so the walk
reads that index's pages in order and checks only the contacts whose signature holds every bit
of the word.

The signatures of the contacts already stored are computed here from their entries, by one
rewrite of the table (as 0033's: an UPDATE of every row would leave the table twice its size).
A contact without a conversation has none (None: checked as before). An entry written before
0029 has no runs (its leftmost bit unset), and neither then has its contact's signature. SQLite
walks its own index: the column stays empty there.

Revision ID: 0034
Revises: 0033
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0034"
down_revision: str | None = "0033"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEX = "ix_contacts_reading"
# As search.entries.sign_contacts computes it: the entries' bits together, the leftmost (the
# runs are there) only where every entry has it.
SIGNATURE = """
CREATE OR REPLACE FUNCTION madoguchi_signature_0034(contact integer) RETURNS bit(2048)
LANGUAGE sql STABLE AS $$
    SELECT set_bit(bit_or(e.signature), 0, min(get_bit(e.signature, 0)))
    FROM conversations AS c JOIN conversation_search AS e ON e.conversation_id = c.id
    WHERE c.contact_id = contact
$$
"""


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        op.add_column("contacts", sa.Column("signature", sa.Text()))
        return
    op.execute("SET LOCAL maintenance_work_mem = '256MB'")
    op.execute(SIGNATURE)
    # IF NOT EXISTS, as the index below: the VACUUM at the end commits all this before the
    # version is stamped, and a run stopped there must be able to run again.
    op.execute("ALTER TABLE contacts ADD COLUMN IF NOT EXISTS signature bit(2048)")
    # A change of type with USING rewrites every row once (and builds the indexes again).
    op.execute(
        "ALTER TABLE contacts ALTER COLUMN signature TYPE bit(2048) "
        "USING madoguchi_signature_0034(id)"
    )
    op.execute("DROP FUNCTION madoguchi_signature_0034(integer)")
    op.execute(f"DROP INDEX IF EXISTS {INDEX}")
    op.create_index(INDEX, "contacts", ["reading", "id"], postgresql_include=["signature"])
    # The rewritten table's pages are not yet known to be visible to all: until they are, the
    # walk of the reading index reads each contact's row as well (3.1 against 1.2 ms a page at
    # a million). VACUUM says so (0.6 s at a million); it runs outside a transaction, so what
    # the revisions did so far is committed first (and this one runs again if stopped here).
    with op.get_context().autocommit_block():
        op.execute("VACUUM ANALYZE contacts")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.drop_index(INDEX, table_name="contacts")
        op.create_index(INDEX, "contacts", ["reading", "id"])
    op.drop_column("contacts", "signature")
