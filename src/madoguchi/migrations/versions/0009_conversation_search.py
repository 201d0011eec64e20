"""conversation search: one search entry per conversation (its contact's names and all its
messages), keyed by its last activity, so that the inbox finds the newest matching conversations
first instead of sorting every match (madoguchi.search)

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy import text
from sqlalchemy.dialects import postgresql

from madoguchi import search
from madoguchi.kit.db import UTCDateTime
from madoguchi.kit.text import grams_of

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BATCH = 2000
TABLE = search.CONVERSATIONS
FTS = search.CONVERSATIONS_FTS

# The FTS5 index follows its table (external content: rowid = seq).
TRIGGERS = {
    f"{TABLE}_ai": f"AFTER INSERT ON {TABLE} BEGIN "
    f"INSERT INTO {FTS}(rowid, grams) VALUES (new.seq, new.grams); END",
    f"{TABLE}_ad": f"AFTER DELETE ON {TABLE} BEGIN "
    f"INSERT INTO {FTS}({FTS}, rowid, grams) VALUES ('delete', old.seq, old.grams); END",
    f"{TABLE}_au": f"AFTER UPDATE ON {TABLE} BEGIN "
    f"INSERT INTO {FTS}({FTS}, rowid, grams) VALUES ('delete', old.seq, old.grams); "
    f"INSERT INTO {FTS}(rowid, grams) VALUES (new.seq, new.grams); END",
}


def upgrade() -> None:
    bind = op.get_bind()
    sqlite = bind.dialect.name == "sqlite"
    op.create_table(
        TABLE,
        sa.Column("conversation_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("grams", sa.Text() if sqlite else postgresql.ARRAY(sa.Text()), nullable=False),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name=op.f(f"fk_{TABLE}_conversation_id_conversations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("conversation_id", name=op.f(f"pk_{TABLE}")),
    )
    # SQLite's FTS5 rowid is the seq, so it is unique there; PostgreSQL orders by (seq, id).
    op.create_index(f"ix_{TABLE}_seq", TABLE, ["seq", "conversation_id"], unique=sqlite)
    _fill(bind, sqlite)
    if sqlite:
        op.execute(
            f"CREATE VIRTUAL TABLE {FTS} USING fts5(grams, content='{TABLE}', "
            "content_rowid='seq', detail=none, tokenize='unicode61 remove_diacritics 0')"
        )
        op.execute(f"INSERT INTO {FTS}({FTS}) VALUES ('rebuild')")
        for name, body in TRIGGERS.items():
            op.execute(f"CREATE TRIGGER {name} {body}")
    else:
        op.create_index(
            f"ix_{TABLE}_grams",
            TABLE,
            ["grams"],
            postgresql_using="gin",
            postgresql_with={"fastupdate": "off"},
        )


def _fill(bind: sa.Connection, sqlite: bool) -> None:
    """An entry for every conversation there is, a batch at a time."""
    last = 0
    taken: set[int] = set()
    while True:
        conversations = bind.execute(
            text(
                "SELECT c.id, c.last_activity_at, k.channel_name, k.display_name "
                "FROM conversations c JOIN contacts k ON k.id = c.contact_id "
                "WHERE c.id > :last ORDER BY c.id LIMIT :n"
            ).columns(
                sa.column("id", sa.Integer()),
                sa.column("last_activity_at", UTCDateTime()),
                sa.column("channel_name", sa.Text()),
                sa.column("display_name", sa.Text()),
            ),
            {"last": last, "n": BATCH},
        ).all()
        if not conversations:
            return
        ids = [row[0] for row in conversations]
        texts: dict[int, list[str]] = {}
        for conversation_id, body in bind.execute(
            text(
                "SELECT conversation_id, text FROM messages "
                "WHERE conversation_id IN :ids AND kind != 'system'"
            ).bindparams(sa.bindparam("ids", expanding=True)),
            {"ids": ids},
        ):
            texts.setdefault(conversation_id, []).append(body or "")
        params = []
        for conversation_id, at, channel_name, display_name in conversations:
            seq = search.activity_seq(at, conversation_id)
            while sqlite and seq in taken:
                seq -= 1
            taken.add(seq)
            grams = grams_of([f"{channel_name} {display_name}", *texts.get(conversation_id, [])])
            params.append(
                {
                    "id": conversation_id,
                    "seq": seq,
                    "grams": search.stored_grams(grams, seq, sqlite=sqlite),
                }
            )
        statement = text(
            f"INSERT INTO {TABLE} (conversation_id, seq, grams) VALUES (:id, :seq, :grams)"
        )
        if not sqlite:
            statement = statement.bindparams(
                sa.bindparam("grams", type_=postgresql.ARRAY(sa.Text()))
            )
        bind.execute(statement, params)
        last = ids[-1]


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for name in TRIGGERS:
            op.execute(f"DROP TRIGGER {name}")
        op.execute(f"DROP TABLE {FTS}")
    op.drop_table(TABLE)
