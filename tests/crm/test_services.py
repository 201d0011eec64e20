"""The CRM's service functions, as the API, the UI, imports and automations all call them: each
change is checked, stored, and published so that other members' screens update live."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select

from madoguchi.contacts import merging, repository
from madoguchi.contacts import service as contacts
from madoguchi.contacts.models import Contact, ContactMerge
from madoguchi.crm import fields, marks, memos, records, statuses, tags
from madoguchi.crm.filters import Condition
from madoguchi.crm.models import Record, RecordSpan
from madoguchi.kit.context import Ctx
from madoguchi.kit.errors import Conflict, Invalid, NotFound
from tests.conftest import RecordingBus
from tests.fixtures import Factory


@pytest.fixture
def bus(ctx: Ctx) -> RecordingBus:
    assert isinstance(ctx.bus, RecordingBus)
    return ctx.bus


def heard(bus: RecordingBus) -> list[tuple[str, dict[str, Any]]]:
    """What was published since the last call, then forgotten."""
    events = [(event.type, event.data) for event in bus.published]
    bus.published.clear()
    return events


async def _customer(ctx: Ctx, name: str = "山田 花子") -> int:
    return (await contacts.create_contact(ctx, display_name=name)).id


async def _matching(ctx: Ctx, *conditions: Condition) -> set[int]:
    page = await repository.list_contacts(
        ctx.db, conditions=list(conditions), member_id=None, timezone="Asia/Tokyo"
    )
    return {contact.id for contact in page.contacts}


def updated(contact_id: int, part: str) -> tuple[str, dict[str, Any]]:
    return ("contact.updated", {"contact_id": contact_id, "part": part})


# --- statuses ---------------------------------------------------------------------------------


async def test_statuses_are_added_renamed_recoloured_reordered_and_each_change_is_published(
    ctx: Ctx, bus: RecordingBus
) -> None:
    defaults = await statuses.list_statuses(ctx.db)
    assert [s.name for s in defaults] == ["未対応", "対応中", "連絡待ち", "完了"]

    added = await statuses.create_status(ctx, name=" 返信待ち ", color="#AA00FF")
    assert (added.name, added.color, added.position) == ("返信待ち", "#aa00ff", 4)
    assert heard(bus) == [("statuses.changed", {"status_id": added.id})]
    with pytest.raises(Conflict):
        await statuses.create_status(ctx, name="返信待ち")
    with pytest.raises(Invalid):
        await statuses.create_status(ctx, name="赤", color="red")
    with pytest.raises(Invalid):
        await statuses.create_status(ctx, name="  ")

    await statuses.update_status(ctx, status_id=added.id, name="お返事待ち")
    await statuses.update_status(ctx, status_id=added.id, color="#00AA00")
    assert (added.name, added.color) == ("お返事待ち", "#00aa00")
    assert heard(bus) == [("statuses.changed", {"status_id": added.id})] * 2
    with pytest.raises(Conflict):
        await statuses.update_status(ctx, status_id=added.id, name="完了")

    order = [added.id, *[s.id for s in reversed(defaults)]]
    await statuses.reorder_statuses(ctx, ids=order)
    assert [s.id for s in await statuses.list_statuses(ctx.db)] == order
    assert heard(bus) == [("statuses.changed", {})]
    with pytest.raises(Invalid):
        await statuses.reorder_statuses(ctx, ids=order[1:])


async def test_deleting_a_status_moves_its_contacts_to_none(ctx: Ctx, bus: RecordingBus) -> None:
    doing = await statuses.find_status(ctx.db, "対応中")
    hanako, misaki = await _customer(ctx), await _customer(ctx, "佐藤 美咲")
    for contact_id, status in ((hanako, "対応中"), (misaki, "完了")):
        await contacts.update_contact(
            ctx,
            contact_id=contact_id,
            changes=contacts.ContactChanges(status=status, set_status=True),
        )
    heard(bus)

    await statuses.delete_status(ctx, status_id=doing.id)
    assert heard(bus) == [("statuses.changed", {"status_id": doing.id})]
    ctx.db.expire_all()
    assert (await contacts.get_contact(ctx.db, contact_id=hanako)).status_id is None
    assert (await contacts.get_contact(ctx.db, contact_id=misaki)).status_id is not None
    assert await _matching(ctx, Condition("status", "empty")) == {hanako}
    with pytest.raises(NotFound):
        await statuses.find_status(ctx.db, "対応中")


# --- marks ------------------------------------------------------------------------------------


async def test_the_eight_default_marks_and_only_the_last_six_are_renamed(
    ctx: Ctx, bus: RecordingBus
) -> None:
    listed = await marks.list_marks(ctx.db)
    assert [(m.name, m.renamable) for m in listed] == [
        ("未確認", False),
        ("確認済み", False),
        ("質問(低)", True),
        ("質問(中)", True),
        ("アカウントトラブル", True),
        ("問い合わせ", True),
        ("要アプローチ", True),
        ("クレーム", True),
    ]
    unconfirmed, question = listed[0], listed[2]
    with pytest.raises(Invalid):
        await marks.update_mark(ctx, mark_id=unconfirmed.id, name="未読")
    await marks.update_mark(ctx, mark_id=unconfirmed.id, color="#123456")
    await marks.update_mark(ctx, mark_id=question.id, name="質問(小)")
    assert (unconfirmed.name, unconfirmed.color, question.name) == ("未確認", "#123456", "質問(小)")
    assert heard(bus) == [
        ("marks.changed", {"mark_id": unconfirmed.id}),
        ("marks.changed", {"mark_id": question.id}),
    ]
    with pytest.raises(Conflict):
        await marks.update_mark(ctx, mark_id=question.id, name="クレーム")


async def test_a_mark_is_set_on_a_contact_and_on_a_single_message(
    ctx: Ctx, factory: Factory, bus: RecordingBus
) -> None:
    channel = await factory.channel()
    first = await factory.inbound(channel, contact="c-1", text="予約したいです")
    other = await factory.inbound(channel, contact="c-2", name="佐藤 美咲")
    contact_id = first.conversation.contact_id
    heard(bus)

    await contacts.update_contact(
        ctx,
        contact_id=contact_id,
        changes=contacts.ContactChanges(mark="要アプローチ", set_mark=True),
    )
    assert heard(bus) == [updated(contact_id, "profile")]
    message = await marks.mark_message(ctx, message_id=other.message.id, mark="クレーム")
    claim = await marks.find_mark(ctx.db, "クレーム")
    assert message.mark_id == claim.id
    assert heard(bus) == [
        (
            "message.updated",
            {"message_id": other.message.id, "conversation_id": other.conversation.id},
        )
    ]
    # A mark on one message finds its customer too.
    assert await _matching(ctx, Condition("mark", "eq", "クレーム")) == {
        other.conversation.contact_id
    }
    assert await _matching(ctx, Condition("mark", "eq", "要アプローチ")) == {contact_id}

    await marks.mark_message(ctx, message_id=other.message.id, mark=None)
    assert message.mark_id is None
    with pytest.raises(NotFound):
        await marks.mark_message(ctx, message_id=other.message.id, mark="存在しない")
    with pytest.raises(NotFound):
        await marks.mark_message(ctx, message_id=99999999999999999999, mark=None)


# --- tags in folders --------------------------------------------------------------------------


async def test_tags_live_in_folders_nested_one_level(ctx: Ctx, bus: RecordingBus) -> None:
    diagnosis = await tags.create_folder(ctx, actor=None, name="診断結果")
    hair = await tags.create_folder(ctx, actor=None, name="髪質", parent_id=diagnosis.id)
    assert heard(bus) == [
        ("tags.changed", {"folder_id": diagnosis.id}),
        ("tags.changed", {"folder_id": hair.id}),
    ]
    with pytest.raises(Invalid):
        await tags.create_folder(ctx, actor=None, name="さらに下", parent_id=hair.id)
    with pytest.raises(Conflict):
        await tags.create_folder(ctx, actor=None, name="髪質", parent_id=diagnosis.id)

    curly = await tags.create_tag(ctx, actor=None, name="くせ毛", folder=hair.id)
    assert curly.folder_id == hair.id
    # The same name may live in another folder; by name it is then ambiguous.
    staff_curly = await tags.create_tag(ctx, actor=None, name="くせ毛", folder="担当者")
    assert staff_curly.folder_id not in (None, hair.id)
    with pytest.raises(Conflict):
        await tags.create_tag(ctx, actor=None, name="くせ毛", folder=hair.id)
    with pytest.raises(Invalid):
        await tags.find_tag(ctx.db, "くせ毛")
    heard(bus)

    await tags.update_tag(
        ctx, actor=None, tag_id=staff_curly.id, name="担当:くせ毛", folder=None, move=True
    )
    assert staff_curly.folder_id is None
    assert (await tags.find_tag(ctx.db, "くせ毛")).id == curly.id
    assert heard(bus) == [("tags.changed", {"tag_id": staff_curly.id})]


async def test_a_contacts_tags_and_the_any_all_filters(ctx: Ctx, bus: RecordingBus) -> None:
    vip, new, curly = [
        (await tags.create_tag(ctx, actor=None, name=name, folder="診断結果")).id
        for name in ("VIP", "新規", "くせ毛")
    ]
    hanako, misaki, kenta = (
        await _customer(ctx),
        await _customer(ctx, "佐藤 美咲"),
        await _customer(ctx, "高橋 健太"),
    )
    heard(bus)

    await tags.set_tags(ctx, contact_id=hanako, tag_ids=[vip, curly])
    assert heard(bus) == [
        updated(hanako, "tags"),
        ("tag.added", {"contact_id": hanako, "tag_id": vip}),
        ("tag.added", {"contact_id": hanako, "tag_id": curly}),
    ]
    await tags.add_tag(ctx, contact_id=misaki, tag_id=curly)
    assert heard(bus) == [
        updated(misaki, "tags"),
        ("tag.added", {"contact_id": misaki, "tag_id": curly}),
    ]
    await tags.add_tag(ctx, contact_id=misaki, tag_id=curly)
    assert heard(bus) == []  # already there: nothing changed, nothing to tell
    await tags.add_tag(ctx, contact_id=kenta, tag_id=new)
    await tags.remove_tag(ctx, contact_id=kenta, tag_id=new)
    assert heard(bus)[-1] == updated(kenta, "tags")

    assert await _matching(ctx, Condition("tag", "in", [vip, curly])) == {hanako, misaki}
    assert await _matching(ctx, Condition("tag", "all", ["VIP", "くせ毛"])) == {hanako}
    assert await _matching(ctx, Condition("tag", "not_in", ["くせ毛"])) == {kenta}
    with pytest.raises(NotFound):
        await tags.set_tags(ctx, contact_id=hanako, tag_ids=[vip, 99999999999999])
    assert {t.id for t in (await tags.contact_tags(ctx.db, contact_ids=[hanako]))[hanako]} == {
        vip,
        curly,
    }


# --- profile fields ---------------------------------------------------------------------------

FIELD_CASES: list[tuple[str, list[str], list[tuple[Any, Any]], list[Any]]] = [
    # type, options, [(given, stored)], [refused]
    ("text", [], [(" 担当: 鈴木 ", "担当: 鈴木")], [123, 1.5, True, ["a"], "あ" * 1001]),
    ("long_text", [], [("アレルギー\nあり", "アレルギー\nあり")], [42, "あ" * 5001]),
    ("number", [], [("１，２００", 1200), (3.5, 3.5), (7, 7)], ["たくさん", True, "nan"]),
    ("date", [], [("1990/4/1", "1990-04-01")], ["2026-02-30", "昨日", 19900401]),
    ("select", ["カット", "カラー"], [("カラー", "カラー")], ["パーマ", 1]),
    (
        "multi_select",
        ["ヘッドスパ", "トリートメント"],
        [(["トリートメント", "ヘッドスパ"], ["トリートメント", "ヘッドスパ"])],
        [["パーマ"], [1]],
    ),
    ("phone", [], [("０９０-1234-5678", "090-1234-5678")], ["電話して", 9012345678]),
    ("email", [], [("Hanako@Example.com", "hanako@example.com")], ["hanako", 5]),
    ("url", [], [("https://instagram.com/x", "https://instagram.com/x")], ["instagram", 8]),
]


@pytest.mark.parametrize(("field_type", "options", "good", "bad"), FIELD_CASES)
async def test_each_field_type_checks_its_values(
    ctx: Ctx,
    bus: RecordingBus,
    field_type: str,
    options: list[str],
    good: list[tuple[Any, Any]],
    bad: list[Any],
) -> None:
    contact_id = await _customer(ctx)
    await fields.create_field(
        ctx, key="value", label="項目", type=field_type, options=options, folder="基本情報"
    )
    heard(bus)
    for given, stored in good:
        assert await fields.set_value(ctx, contact_id=contact_id, key="value", value=given) == (
            stored
        )
        assert heard(bus) == [updated(contact_id, "fields")]
        values = await fields.contact_values(ctx.db, contact_ids=[contact_id])
        assert values[contact_id] == {"value": stored}
    for given in bad:
        with pytest.raises(Invalid) as refused:
            await fields.set_value(ctx, contact_id=contact_id, key="value", value=given)
        assert "項目" in str(refused.value), given
        await ctx.db.rollback()
    # Nothing refused was stored, and empty clears.
    values = await fields.contact_values(ctx.db, contact_ids=[contact_id])
    assert values[contact_id] == {"value": good[-1][1]}
    assert await fields.set_value(ctx, contact_id=contact_id, key="value", value="") is None
    assert (await fields.contact_values(ctx.db, contact_ids=[contact_id]))[contact_id] == {}


async def test_field_definitions_keep_their_key_and_publish_changes(
    ctx: Ctx, bus: RecordingBus
) -> None:
    points = await fields.create_field(ctx, key="points", label="来店ポイント", type="number")
    assert heard(bus) == [("fields.changed", {"field_id": points.id})]
    with pytest.raises(Conflict):
        await fields.create_field(ctx, key="points", label="別", type="text")
    with pytest.raises(Invalid):
        await fields.create_field(ctx, key="来店", label="来店", type="text")
    with pytest.raises(Invalid):
        await fields.create_field(ctx, key="kind", label="種類", type="colour")
    with pytest.raises(Invalid):
        await fields.create_field(ctx, key="course", label="コース", type="select")
    await fields.update_field(
        ctx, field_id=points.id, changes=fields.FieldChanges(label="ポイント", show_in_chat=False)
    )
    assert (points.label, points.show_in_chat) == ("ポイント", False)
    assert heard(bus) == [("fields.changed", {"field_id": points.id})]


# --- memos ------------------------------------------------------------------------------------


async def test_memos_hold_up_to_5000_characters_and_keep_the_members_order(
    ctx: Ctx, factory: Factory, bus: RecordingBus
) -> None:
    contact_id = await _customer(ctx)
    author = await factory.member()
    heard(bus)

    allergy = await memos.create_memo(
        ctx, contact_id=contact_id, title="アレルギー", body="あ" * 5000, author=author
    )
    likes = await memos.create_memo(
        ctx, contact_id=contact_id, title="好み", body="短めが好き", author=None
    )
    assert heard(bus) == [updated(contact_id, "memos")] * 2
    assert allergy.author_id == author.id
    # A new memo goes on top.
    assert [m.id for m in await memos.list_memos(ctx.db, contact_id=contact_id)] == [
        likes.id,
        allergy.id,
    ]
    with pytest.raises(Invalid):
        await memos.create_memo(ctx, contact_id=contact_id, title="", body="あ" * 5001, author=None)
    with pytest.raises(Invalid):
        await memos.create_memo(ctx, contact_id=contact_id, title=" ", body=" ", author=None)
    with pytest.raises(Invalid):
        await memos.update_memo(
            ctx, contact_id=contact_id, memo_id=likes.id, title=None, body="い" * 5001
        )

    await memos.update_memo(
        ctx, contact_id=contact_id, memo_id=likes.id, title=None, body="前髪は短め"
    )
    assert (likes.title, likes.body) == ("好み", "前髪は短め")
    await memos.reorder_memos(ctx, contact_id=contact_id, ids=[allergy.id, likes.id])
    assert [m.id for m in await memos.list_memos(ctx.db, contact_id=contact_id)] == [
        allergy.id,
        likes.id,
    ]
    with pytest.raises(Invalid):
        await memos.reorder_memos(ctx, contact_id=contact_id, ids=[allergy.id])
    await memos.delete_memo(ctx, contact_id=contact_id, memo_id=likes.id)
    assert heard(bus) == [updated(contact_id, "memos")] * 3
    with pytest.raises(NotFound):
        await memos.get_memo(ctx.db, contact_id=contact_id, memo_id=likes.id)


async def test_a_memo_moves_one_step_and_stays_put_at_either_end(
    ctx: Ctx, bus: RecordingBus
) -> None:
    contact_id = await _customer(ctx)
    other_id = await _customer(ctx)
    first, second, third = [
        await memos.create_memo(ctx, contact_id=contact_id, title=t, body=t, author=None)
        for t in ("三", "二", "一")
    ][::-1]

    async def order() -> list[int]:
        return [m.id for m in await memos.list_memos(ctx.db, contact_id=contact_id)]

    assert await order() == [first.id, second.id, third.id]
    heard(bus)
    assert await memos.move_memo(ctx, contact_id=contact_id, memo_id=third.id, direction="up")
    assert await order() == [first.id, third.id, second.id]
    assert heard(bus) == [updated(contact_id, "memos")]
    assert await memos.move_memo(ctx, contact_id=contact_id, memo_id=first.id, direction="down")
    assert await order() == [third.id, first.id, second.id]

    # At an end it stays, and nobody is told of a change.
    heard(bus)
    assert not await memos.move_memo(ctx, contact_id=contact_id, memo_id=third.id, direction="up")
    assert not await memos.move_memo(
        ctx, contact_id=contact_id, memo_id=second.id, direction="down"
    )
    assert await order() == [third.id, first.id, second.id]
    assert heard(bus) == []

    # Another customer's memo is not this one's to move.
    with pytest.raises(NotFound):
        await memos.move_memo(ctx, contact_id=other_id, memo_id=first.id, direction="up")


# --- records (カルテ) -------------------------------------------------------------------------


async def test_records_are_timestamps_with_a_zone_listed_newest_first(
    ctx: Ctx, bus: RecordingBus
) -> None:
    contact_id = await _customer(ctx)
    heard(bus)
    book = await records.create_book(
        ctx,
        name="施術履歴",
        fields=[
            {"key": "menu", "label": "メニュー", "type": "select", "options": ["カット", "カラー"]},
            {"key": "price", "label": "料金", "type": "number"},
        ],
    )
    assert heard(bus) == [("record_books.changed", {"book_id": book.id})]

    # Written in Japan time, written in UTC, and written without a zone (taken as Japan time).
    tokyo = await records.create_record(
        ctx,
        contact_id=contact_id,
        book=book.id,
        at=datetime.fromisoformat("2026-04-01T10:00:00+09:00"),
        values_={"menu": "カット", "price": "4,400"},
        author=None,
    )
    utc = await records.create_record(
        ctx,
        contact_id=contact_id,
        book="施術履歴",
        at=datetime(2026, 5, 1, 3, 0, tzinfo=UTC),
        values_={"menu": "カラー"},
        author=None,
    )
    naive = await records.create_record(
        ctx,
        contact_id=contact_id,
        book=book.id,
        at=datetime(2026, 3, 1, 9, 0),
        values_={},
        author=None,
    )
    assert heard(bus) == [updated(contact_id, "records")] * 3
    assert tokyo.at == datetime(2026, 4, 1, 1, 0, tzinfo=UTC)
    assert tokyo.values == {"menu": "カット", "price": 4400}
    assert naive.at == datetime(2026, 3, 1, 0, 0, tzinfo=UTC)
    listed = await records.list_records(ctx.db, contact_id=contact_id)
    assert [r.id for r in listed] == [utc.id, tokyo.id, naive.id]

    with pytest.raises(Invalid):
        await records.create_record(
            ctx,
            contact_id=contact_id,
            book=book.id,
            at=datetime(2026, 4, 2),
            values_={"menu": "パーマ"},
            author=None,
        )
    with pytest.raises(Invalid):
        await records.create_record(
            ctx,
            contact_id=contact_id,
            book=book.id,
            at=datetime(2026, 4, 2),
            values_={"x": 1},
            author=None,
        )

    await records.update_record(
        ctx,
        record_id=naive.id,
        at=datetime.fromisoformat("2026-06-01T12:00:00+09:00"),
        values_=None,
    )
    newest = (await records.list_records(ctx.db, contact_id=contact_id))[0]
    assert newest.id == naive.id
    await records.delete_record(ctx, record_id=utc.id)
    assert heard(bus) == [updated(contact_id, "records")] * 2


@pytest.mark.parametrize(
    "at",
    [
        "0001-01-01T00:00:00+14:00",
        "0001-01-01T00:00:00",
        "9999-12-31T23:59:59-12:00",
        "9999-12-31T23:59:59",
        "1899-12-31T12:00:00+09:00",
        "3000-01-01T00:00:00+00:00",
    ],
)
async def test_a_record_date_near_the_calendars_ends_is_refused(ctx: Ctx, at: str) -> None:
    contact_id = await _customer(ctx)
    book = await records.create_book(ctx, name="対応記録", fields=[])
    with pytest.raises(Invalid) as refused:
        await records.create_record(
            ctx,
            contact_id=contact_id,
            book=book.id,
            at=datetime.fromisoformat(at),
            values_={},
            author=None,
        )
    assert str(refused.value) == "A date must be between the years 1900 and 2999."


# --- the contact's switches -------------------------------------------------------------------


async def test_hide_and_block_are_published(ctx: Ctx, factory: Factory, bus: RecordingBus) -> None:
    channel = await factory.channel()
    ingested = await factory.inbound(channel, contact="c-1")
    contact_id, conversation_id = ingested.conversation.contact_id, ingested.conversation.id
    heard(bus)

    await contacts.update_contact(
        ctx, contact_id=contact_id, changes=contacts.ContactChanges(hidden=True)
    )
    # It leaves everyone's inbox: the conversation is told about too.
    assert heard(bus) == [
        updated(contact_id, "profile"),
        ("conversation.updated", {"conversation_id": conversation_id, "contact_id": contact_id}),
    ]
    await contacts.update_contact(
        ctx, contact_id=contact_id, changes=contacts.ContactChanges(blocked=True)
    )
    assert heard(bus) == [updated(contact_id, "profile")]
    contact = await contacts.get_contact(ctx.db, contact_id=contact_id)
    assert (contact.hidden, contact.blocked) == (True, True)
    assert await _matching(ctx, Condition("hidden", "eq", True)) == {contact_id}


async def test_a_contact_s_record_spans_follow_its_records_a_message_and_a_merge(
    ctx: Ctx, factory: Factory
) -> None:
    """A record span is a contact's records of one book summed up (the newest, the oldest) with
    a copy of its activity, for the conditions on a last (or first) visit: kept by adding,
    moving and deleting a record, by a message (the activity), by a merge (the records move to
    the kept contact) and by its undoing; none where no record is left."""
    channel = await factory.channel()
    owner = await factory.member(role="owner")
    a = (await factory.inbound(channel, contact="s-a", name="甲")).conversation.contact_id
    b = (await factory.inbound(channel, contact="s-b", name="乙")).conversation.contact_id
    await records.create_book(ctx, name="施術履歴", fields=[])
    await records.create_book(ctx, name="電話", fields=[])

    def day(n: int) -> datetime:
        return datetime(2026, 5, n, 1, 0, tzinfo=UTC)

    async def check() -> dict[tuple[int, int], tuple[datetime, datetime]]:
        """The spans stored, against the records and the contacts as Python sums them up."""
        want: dict[tuple[int, int], tuple[datetime, datetime, datetime | None]] = {}
        activity = dict((await ctx.db.execute(select(Contact.id, Contact.activity_at))).all())
        for record in await ctx.db.scalars(
            select(Record).execution_options(populate_existing=True)
        ):
            key = (record.contact_id, record.book_id)
            newest, oldest, _ = want.get(key, (record.at, record.at, None))
            want[key] = (max(newest, record.at), min(oldest, record.at), activity[key[0]])
        stored = await ctx.db.execute(
            select(
                RecordSpan.contact_id,
                RecordSpan.book_id,
                RecordSpan.newest_at,
                RecordSpan.oldest_at,
                RecordSpan.activity_at,
            )
        )
        assert {(c, k): (n, o, at) for c, k, n, o, at in stored} == want
        return {key: (newest, oldest) for key, (newest, oldest, _) in want.items()}

    first = await records.create_record(
        ctx, contact_id=a, book="施術履歴", at=day(3), values_={}, author=None
    )
    await records.create_record(
        ctx, contact_id=a, book="施術履歴", at=day(9), values_={}, author=None
    )
    await records.create_record(ctx, contact_id=a, book="電話", at=day(5), values_={}, author=None)
    last = await records.create_record(
        ctx, contact_id=b, book="施術履歴", at=day(20), values_={}, author=None
    )
    spans = await check()
    assert spans[(a, first.book_id)] == (day(9), day(3))
    await records.update_record(ctx, record_id=first.id, at=day(12), values_=None)
    assert (await check())[(a, first.book_id)] == (day(12), day(9))
    await factory.inbound(channel, contact="s-a", name="甲", text="また行きます")
    await check()

    await merging.merge_contacts(ctx, contact_id=a, other_id=b, actor=owner)
    spans = await check()
    assert spans[(a, first.book_id)] == (day(20), day(9)) and (b, first.book_id) not in spans
    merge_id = await ctx.db.scalar(select(ContactMerge.id).where(ContactMerge.kept_id == a))
    assert merge_id is not None
    await merging.undo_merge(ctx, merge_id=merge_id, actor=owner)
    assert (await check())[(b, first.book_id)] == (day(20), day(20))

    await records.delete_record(ctx, record_id=last.id)
    assert (b, first.book_id) not in await check()
