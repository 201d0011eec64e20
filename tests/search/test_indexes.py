"""The search index against a plain Python evaluation over the same rows (F3, F46)."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from madoguchi.conversations import repository
from madoguchi.conversations.repository import InboxQuery
from madoguchi.kit import text as kit_text
from madoguchi.kit.context import Ctx
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
