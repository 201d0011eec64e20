"""Readings (フリガナ, F46): suggested from a kanji name, kept in katakana, edited through the API,
found by search in hiragana or katakana, sorted 五十音順, imported and exported."""

from __future__ import annotations

import csv
import io

import httpx
import pytest
from sqlalchemy import select

from madoguchi.config import Settings
from madoguchi.contacts import reading, transfer
from madoguchi.contacts import service as contacts
from madoguchi.contacts.models import Contact
from madoguchi.kit.context import Ctx
from madoguchi.kit.db import Database
from madoguchi.kit.errors import Invalid
from tests.fixtures import Factory, auth
from tests.test_cli import run


@pytest.mark.parametrize(
    ("name", "suggested"),
    [
        ("佐藤", "サトウ"),
        ("山田花子", "ヤマダハナコ"),
        ("長谷川　麻衣", "ハセガワ マイ"),
        ("さとう はなこ", "サトウ ハナコ"),
        ("🌸佐々木", "ササキ"),
        ("【美咲】佐藤 花子", "サトウ ハナコ"),
        ("佐藤 花子（カラー希望）", "サトウ ハナコ"),
        ("ｻﾄｳ", "サトウ"),
        ("Aya 田中", None),  # Latin letters: no half-right reading
        ("髙橋 一郎", None),  # a kanji the dictionary does not know
        ("Mike", None),
        ("", None),
    ],
)
def test_a_reading_is_suggested_for_a_japanese_name(name: str, suggested: str | None) -> None:
    assert reading.suggest(name) == suggested


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        ("さとう", "サトウ"),
        ("サトウ", "サトウ"),
        ("ｻﾄｳ ﾊﾅｺ", "サトウ ハナコ"),
        ("  やまだ　 はなこ ", "ヤマダ ハナコ"),
        ("ヴィクトリア", "ヴィクトリア"),
        ("", None),
        (None, None),
    ],
)
def test_a_reading_is_kept_in_full_width_katakana(given: str | None, kept: str | None) -> None:
    assert reading.normalize(given) == kept


@pytest.mark.parametrize("given", ["佐藤", "sato", "サトウ1", "さとう!", "ア" * 81])
def test_a_reading_that_is_not_kana_is_refused(given: str) -> None:
    with pytest.raises(Invalid):
        reading.normalize(given)


@pytest.fixture
async def token(factory: Factory) -> str:
    return await factory.token(await factory.member(role="owner"))


async def test_the_api_suggests_reads_and_changes_the_reading(
    client: httpx.AsyncClient, token: str
) -> None:
    made = await client.post(
        "/api/v1/contacts", json={"display_name": "山田 花子"}, headers=auth(token)
    )
    assert made.status_code == 201
    contact = made.json()
    assert contact["reading"] == "ヤマダ ハナコ"
    url = f"/api/v1/contacts/{contact['id']}"

    changed = await client.patch(url, json={"reading": "やまだ はなこ"}, headers=auth(token))
    assert changed.json()["reading"] == "ヤマダ ハナコ"
    changed = await client.patch(url, json={"reading": "ﾔﾏﾀﾞ"}, headers=auth(token))
    assert changed.json()["reading"] == "ヤマダ"
    # A reading a member wrote stays when the name changes.
    renamed = await client.patch(url, json={"display_name": "山田 はな"}, headers=auth(token))
    assert renamed.json()["reading"] == "ヤマダ"

    for wrong in ("Yamada", "山田", "やまだ123"):
        refused = await client.patch(url, json={"reading": wrong}, headers=auth(token))
        assert refused.status_code == 422, refused.text
        assert "kana" in refused.json()["detail"]
    assert (await client.get(url, headers=auth(token))).json()["reading"] == "ヤマダ"

    # Blank: back to the reading suggested for the name.
    cleared = await client.patch(url, json={"reading": ""}, headers=auth(token))
    assert cleared.json()["reading"] == "ヤマダ ハナ"


async def test_a_suggested_reading_follows_the_name(ctx: Ctx, factory: Factory) -> None:
    channel = await factory.channel()
    ingested = await factory.inbound(channel, contact="U1", name="佐藤 花子")
    contact_id = ingested.conversation.contact_id
    assert (await contacts.get_contact(ctx.db, contact_id=contact_id)).reading == "サトウ ハナコ"
    await contacts.rename_contact(ctx, contact_id=contact_id, display_name="鈴木 花子")
    assert (await contacts.get_contact(ctx.db, contact_id=contact_id)).reading == "スズキ ハナコ"


@pytest.mark.parametrize("query", ["さとう", "サトウ", "ｻﾄｳ", "さとうはなこ"])
async def test_search_finds_a_contact_by_reading_in_hiragana_or_katakana(
    client: httpx.AsyncClient, factory: Factory, token: str, query: str
) -> None:
    channel = await factory.channel()
    await factory.inbound(channel, contact="U1", name="佐藤 花子", text="予約お願いします")
    await factory.inbound(channel, contact="U2", name="山田 太郎", text="こんにちは")
    contacts_found = await client.get("/api/v1/contacts", params={"q": query}, headers=auth(token))
    assert [c["display_name"] for c in contacts_found.json()["items"]] == ["佐藤 花子"]
    conversations = await client.get(
        "/api/v1/conversations", params={"q": query}, headers=auth(token)
    )
    assert len(conversations.json()["items"]) == 1


async def test_yamada_hanako_is_found_by_her_whole_reading(
    client: httpx.AsyncClient, factory: Factory, token: str
) -> None:
    channel = await factory.channel()
    await factory.inbound(channel, contact="U1", name="山田花子")
    await factory.inbound(channel, contact="U2", name="山田太郎")
    found = await client.get("/api/v1/contacts", params={"q": "やまだはなこ"}, headers=auth(token))
    assert [c["display_name"] for c in found.json()["items"]] == ["山田花子"]
    both = await client.get("/api/v1/contacts", params={"q": "ヤマダ"}, headers=auth(token))
    assert len(both.json()["items"]) == 2


async def test_lists_sort_by_reading_with_those_without_last(
    ctx: Ctx, client: httpx.AsyncClient, token: str
) -> None:
    for name in ["渡辺 健", "Mike", "青木 愛", "佐藤 花子", "Anna", "井上 翔"]:
        await contacts.create_contact(ctx, display_name=name)
    first = await client.get(
        "/api/v1/contacts", params={"sort": "reading", "limit": 4}, headers=auth(token)
    )
    body = first.json()
    assert [c["display_name"] for c in body["items"]] == [
        "青木 愛",
        "井上 翔",
        "佐藤 花子",
        "渡辺 健",
    ]
    rest = await client.get(
        "/api/v1/contacts",
        params={"sort": "reading", "limit": 4, "cursor": body["next_cursor"]},
        headers=auth(token),
    )
    assert [c["display_name"] for c in rest.json()["items"]] == ["Mike", "Anna"]
    assert rest.json()["next_cursor"] is None
    wrong = await client.get("/api/v1/contacts", params={"sort": "kana"}, headers=auth(token))
    assert wrong.status_code == 422


async def test_the_contact_list_page_sorts_by_reading(
    ctx: Ctx, client: httpx.AsyncClient, factory: Factory
) -> None:
    from tests.ui.conftest import sign_in

    member = await factory.member(role="owner")
    for name in ["渡辺 健", "青木 愛"]:
        await contacts.create_contact(ctx, display_name=name)
    await sign_in(client, member)
    page = await client.get("/contacts", params={"sort": "reading"})
    assert page.status_code == 200
    assert page.text.index("青木 愛") < page.text.index("渡辺 健")
    assert "アオキ アイ" in page.text
    newest = await client.get("/contacts")
    assert newest.text.index("渡辺 健") > newest.text.index("青木 愛")


def _csv(text: str) -> transfer.Table:
    return transfer.read_table("list.csv", text.encode("utf-8"))


async def test_a_furigana_column_fills_the_reading_and_export_writes_it(
    ctx: Ctx, database: Database
) -> None:
    table = _csv(
        "氏名,フリガナ,メール\r\n"
        "東海林 美香,しょうじ みか,mika@example.jp\r\n"
        "佐藤 花子,,hanako@example.jp\r\n"
        "鈴木 一郎,Suzuki,ichiro@example.jp\r\n"
    )
    mapping = transfer.auto_mapping(table.headers, [])
    assert "reading" in mapping.values()
    result = await transfer.import_contacts(ctx, table, mapping=mapping)
    assert (result.created, result.updated) == (2, 0)
    assert [r.line for r in result.rejected] == [4]
    found = {
        contact.display_name: contact.reading
        for contact in await ctx.db.scalars(select(Contact).order_by(Contact.id))
    }
    # The file's reading wins over the dictionary's (ショウジ, not トウカイリン); blank: suggested.
    assert found == {"東海林 美香": "ショウジ ミカ", "佐藤 花子": "サトウ ハナコ"}

    again = _csv("メール,ふりがな\r\nhanako@example.jp,さとう はなこさん\r\n")
    updated = await transfer.import_contacts(
        ctx, again, mapping=transfer.auto_mapping(again.headers, [])
    )
    assert updated.updated == 1

    out = io.StringIO()
    await transfer.export_contacts(ctx, out)
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert {r["表示名"]: r["フリガナ"] for r in rows} == {
        "東海林 美香": "ショウジ ミカ",
        "佐藤 花子": "サトウ ハナコサン",
    }


async def test_the_readings_command_fills_contacts_from_before_readings(
    settings: Settings, ctx: Ctx, client: httpx.AsyncClient, token: str
) -> None:
    made = [await contacts.create_contact(ctx, display_name=n) for n in ["佐藤 花子", "Mike"]]
    ids = [c.id for c in made]
    # As a database from before migration 0025 holds them: no reading, none in the index.
    for contact in made:
        await contacts.set_names(ctx, contact, contact.display_name, None)
    await ctx.db.commit()
    missing = await client.get("/api/v1/contacts", params={"q": "さとう"}, headers=auth(token))
    assert missing.json()["items"] == []
    await ctx.db.rollback()
    done = run(settings, "contacts", "readings")
    assert done.returncode == 0, done.stderr
    assert "1 contacts got a reading." in done.stdout
    found = await client.get("/api/v1/contacts", params={"q": "さとう"}, headers=auth(token))
    assert [c["id"] for c in found.json()["items"]] == [ids[0]]


async def test_the_reading_order_walks_its_index_on_postgresql(ctx: Ctx) -> None:
    """PostgreSQL is told the order as its index of (reading, id) holds it (NULL last), so a
    page of the list sorted by reading walks the index and sorts nothing (at a million contacts
    it sorted them all)."""
    if ctx.dialect != "postgresql":
        pytest.skip("SQLite puts NULL first and sorts the list by reading")
    from sqlalchemy import select, text

    from madoguchi.contacts import repository
    from madoguchi.contacts.models import Contact

    statement = select(Contact.id).order_by(*repository._reading_order(ctx.db)).limit(51)
    compiled = statement.compile(ctx.db.get_bind(), compile_kwargs={"literal_binds": True})
    await ctx.db.execute(text("SET LOCAL enable_seqscan = off"))
    plan = "\n".join(row[0] for row in await ctx.db.execute(text(f"EXPLAIN {compiled}")))
    await ctx.db.rollback()
    assert "ix_contacts_reading" in plan and "Sort" not in plan, plan
