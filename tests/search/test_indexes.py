"""The search index against a plain Python evaluation over the same rows (F3, F46)."""

from __future__ import annotations

import json
import unicodedata

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Text, bindparam, text
from sqlalchemy.dialects.postgresql import ARRAY

from madoguchi import search
from madoguchi.conversations import repository
from madoguchi.conversations.repository import InboxQuery
from madoguchi.kit import pgstats
from madoguchi.kit import text as kit_text
from madoguchi.kit.context import Ctx
from madoguchi.search import indexes
from tests.fixtures import Factory

# A small alphabet, so that random queries often hit: kana in both scripts and widths, kanji,
# Latin in both widths and cases, digits, spaces and punctuation.
ALPHABET = "あいかカｶ予約田中aAＡb1１ ー、!"
texts = st.text(alphabet=ALPHABET, min_size=1, max_size=12).filter(lambda t: t.strip())


def test_normalize_folds_width_case_and_kana() -> None:
    assert kit_text.normalize("ＡＢＣ ｶﾀｶﾅ カタカナ") == "abc かたかな かたかな"
    assert kit_text.search_key("予約 、 ヨヤク!") == "予約よやく"
    assert kit_text.gram_sequence("田中花子") == ["田中", "中花", "花子", "子"]
    assert kit_text.query_grams("花") == ["花"]


def test_every_code_point_is_folded_and_kept_as_the_definitions_say() -> None:
    """Every code point, among all the others: the table folds exactly the katakana (ァ to
    ヶ, to the hiragana 0x60 below), and the regular expression drops exactly what
    ``str.isalnum`` refuses (the key's definition), and the underscore."""
    everything = "".join(map(chr, range(0x110000)))
    folded = unicodedata.normalize("NFKC", everything).casefold()
    expected = "".join(chr(ord(ch) - 0x60) if "ァ" <= ch <= "ヶ" else ch for ch in folded)
    assert kit_text.normalize(everything) == expected
    kept = "".join(ch for ch in expected if ch.isalnum())
    assert kit_text.search_key(everything) == kept
    assert kit_text.search_key("a_b c-d") == "abcd"


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    bodies=st.lists(texts, min_size=1, max_size=6), queries=st.lists(texts, min_size=1, max_size=4)
)
async def test_search_matches_python_substring_over_search_keys(
    ctx: Ctx, factory: Factory, bodies: list[str], queries: list[str]
) -> None:
    channel = await factory.channel()
    expected_by_query: dict[str, set[int]] = {}
    conversation_ids = []
    for n, body in enumerate(bodies):
        ingested = await factory.inbound(channel, contact=f"h{n}-{id(bodies)}", name="-", text=body)
        conversation_ids.append(ingested.conversation.id)
    for query in queries:
        key = kit_text.search_key(query)
        expected_by_query[query] = {
            conversation_ids[n]
            for n, body in enumerate(bodies)
            if key and key in kit_text.search_key(body)
        }
    for query, expected in expected_by_query.items():
        if not kit_text.search_key(query):
            continue
        page = await repository.list_conversations(
            ctx.db, member_id=0, query=InboxQuery(q=query, limit=200)
        )
        found = {c.id for c in page.conversations} & set(conversation_ids)
        assert found == expected, (query, bodies)


async def test_a_words_estimate_is_postgresqls_own(
    ctx: Ctx, factory: Factory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The share of entries a word is expected in, worked out from the statistics a process
    keeps, is the estimate PostgreSQL's planner makes for the same containment: common and
    rare grams, words of one gram and of several, a gram the statistics do not list."""
    if ctx.dialect != "postgresql":
        pytest.skip("SQLite counts instead")
    channel = await factory.channel()
    for n in range(30):
        text_of = "予約お願いします" if n % 3 else "キャンセルでお願いします"
        await factory.inbound(channel, contact=f"estimate-{n}", text=text_of)
    await ctx.db.commit()
    await ctx.db.execute(text(f"ANALYZE {search.CONVERSATIONS}"))
    pgstats.clear()
    for word in ("予約", "お願いします", "キャンセル", "予約お願い", "ぬゑ", "ぬゑゐ"):
        hits, every = await indexes.estimated_share(ctx.db, search.CONVERSATIONS, word) or (0, 0)
        plan = await ctx.db.scalar(
            text(
                f"EXPLAIN (FORMAT JSON) SELECT 1 FROM {search.CONVERSATIONS} "
                f"WHERE grams @> :grams UNION ALL SELECT 1 FROM {search.CONVERSATIONS}"
            ).bindparams(bindparam("grams", value=kit_text.query_grams(word), type_=ARRAY(Text)))
        )
        plans = plan if isinstance(plan, list) else json.loads(str(plan))
        held, rows = plans[0]["Plan"]["Plans"]
        # PostgreSQL estimates at least one row.
        assert (max(1, hits), every) == (held["Plan Rows"], rows["Plan Rows"]), word


async def test_a_loader_s_pending_lists_grow_and_merge_in_large_steps(ctx: Ctx) -> None:
    """While bulk_loading, PostgreSQL's GIN indexes collect BULK_PENDING_KB of new entries
    before merging them, and a loader's transaction (bulk_transaction) may sort that much at
    once; afterwards the indexes are as migration 0007 left them, and the memory setting went
    with the transaction."""
    if ctx.dialect != "postgresql":
        pytest.skip("SQLite's FTS5 tables have no pending list")

    async def options() -> dict[str, list[str]]:
        rows = await ctx.db.execute(
            text("SELECT relname, reloptions FROM pg_class WHERE relname IN :names").bindparams(
                bindparam("names", expanding=True)
            ),
            {"names": list(search.GIN_INDEXES)},
        )
        return {name: list(o) for name, o in rows}

    await ctx.db.commit()
    default = await ctx.db.scalar(text("SHOW work_mem"))
    async with search.bulk_loading(ctx.db):
        limit = f"gin_pending_list_limit={indexes.BULK_PENDING_KB}"
        assert await options() == {name: ["fastupdate=on", limit] for name in search.GIN_INDEXES}
        await search.bulk_transaction(ctx.db)
        assert await ctx.db.scalar(text("SHOW work_mem")) == f"{indexes.BULK_PENDING_KB // 1024}MB"
        await ctx.db.commit()
        assert await ctx.db.scalar(text("SHOW work_mem")) == default
    assert await options() == {name: ["fastupdate=off"] for name in search.GIN_INDEXES}
