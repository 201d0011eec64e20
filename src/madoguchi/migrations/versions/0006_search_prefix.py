"""search prefix: a one-character search reads a prefix index instead of merging every
bigram that starts with that character (SQLite's FTS5 tables are rebuilt with prefix='1')

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-25
"""

from collections.abc import Sequence

from alembic import op
from sqlalchemy import text

from madoguchi.kit.text import gram_sequence

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BATCH = 5000
# index table → (the table it indexes, the text of a row, which rows)
INDEXES = {
    "message_search": ("messages", "text", "kind != 'system'"),
    "contact_search": ("contacts", "channel_name || ' ' || display_name", "1 = 1"),
}


def _rebuild(prefix: bool) -> None:
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        return  # PostgreSQL's array index already holds single characters.
    options = "prefix='1', " if prefix else ""
    for name, (owner, source, which) in INDEXES.items():
        op.execute(f"DROP TABLE {name}")
        op.execute(
            f"CREATE VIRTUAL TABLE {name} USING fts5(grams, content='', {options}"
            "tokenize='unicode61 remove_diacritics 0')"
        )
        last = 0
        while True:
            rows = bind.execute(
                text(
                    f"SELECT id, {source} FROM {owner} WHERE id > :last AND {which} "
                    "ORDER BY id LIMIT :n"
                ),
                {"last": last, "n": BATCH},
            ).all()
            if not rows:
                break
            params = [
                {"id": row[0], "grams": " ".join(grams)}
                for row in rows
                if (grams := gram_sequence(row[1] or ""))
            ]
            if params:
                bind.execute(text(f"INSERT INTO {name}(rowid, grams) VALUES (:id, :grams)"), params)
            last = rows[-1][0]


def upgrade() -> None:
    _rebuild(prefix=True)


def downgrade() -> None:
    _rebuild(prefix=False)
