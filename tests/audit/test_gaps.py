"""The changes the audit log once missed (issue 12, F40) each leave exactly one entry, written by
the service function that makes them: a contact's memos reordered, a conversation's followers,
scheduled messages made, changed, cancelled, given up and put away, folders made by naming them,
and an import that stops partway (the rows it kept are accounted for)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from madoguchi.config import Settings
from madoguchi.contacts import transfer
from madoguchi.contacts.models import Contact
from madoguchi.conversations import scheduled
from madoguchi.events import InProcessBus
from madoguchi.jobs import Worker
from madoguchi.kit.context import Ctx
from madoguchi.kit.db import Database
from tests.audit.test_entries import Cases, World
from tests.fixtures import auth
from tests.ui.conftest import HTML, sign_in

Json = dict[str, Any]
TOKYO = ZoneInfo("Asia/Tokyo")


def _tomorrow() -> datetime:
    """A time to send, in Japan time as members choose it, to the second."""
    return (datetime.now(TOKYO) + timedelta(days=1)).replace(microsecond=0)


# Each case: set up, ``set_mark``, the one change; it answers the entry's kind, subject type,
# before and after.
CASES = Cases()
case = CASES


@case("memos reordered")
async def _(w: World) -> Any:
    path = f"/contacts/{w.contact_id}/memos"
    likes = await w.call("POST", path, {"title": "好み", "body": "短め"})
    careful = await w.call("POST", path, {"title": "注意", "body": "金属アレルギー"})
    await w.set_mark()
    await w.call("PUT", f"{path}/order", {"ids": [likes["id"], careful["id"]]})
    # A new memo goes on top: 注意 was first.
    return "memo.reordered", "contact", {"order": ["注意", "好み"]}, {"order": ["好み", "注意"]}


@case("untitled memos reordered")
async def _(w: World) -> Any:
    path = f"/contacts/{w.contact_id}/memos"
    story = "初回は2022年の春、ご紹介で来店された方です。"
    first = await w.call("POST", path, {"title": "", "body": story + "\n二行目"})
    second = await w.call("POST", path, {"title": "", "body": "駐車場"})
    await w.set_mark()
    await w.call("PUT", f"{path}/order", {"ids": [first["id"], second["id"]]})
    long = story[:20] + "…"  # its first line, cut
    return "memo.reordered", "contact", {"order": ["駐車場", long]}, {"order": [long, "駐車場"]}


@case("followed oneself")
async def _(w: World) -> Any:
    await w.set_mark()
    await w.call("POST", f"/conversations/{w.conversation_id}/follow")
    before, after = {"followers": []}, {"followers": ["店長"]}
    return "conversation.followers_changed", "conversation", before, after


@case("a colleague added as a follower")
async def _(w: World) -> Any:
    aya = await w.factory.member(name="彩")
    await w.ctx.db.rollback()
    await w.call("POST", f"/conversations/{w.conversation_id}/follow")
    await w.set_mark()
    await w.call("POST", f"/conversations/{w.conversation_id}/follow", {"member_id": aya.id})
    before, after = {"followers": ["店長"]}, {"followers": ["店長", "彩"]}
    return "conversation.followers_changed", "conversation", before, after


@case("a colleague taken off the followers")
async def _(w: World) -> Any:
    aya = await w.factory.member(name="彩")
    await w.ctx.db.rollback()
    await w.call("POST", f"/conversations/{w.conversation_id}/follow", {"member_id": aya.id})
    await w.call("POST", f"/conversations/{w.conversation_id}/follow")
    await w.set_mark()
    await w.call("POST", f"/conversations/{w.conversation_id}/unfollow", {"member_id": aya.id})
    before, after = {"followers": ["彩", "店長"]}, {"followers": ["店長"]}
    return "conversation.followers_changed", "conversation", before, after


@case("message scheduled")
async def _(w: World) -> Any:
    at = _tomorrow()
    await w.set_mark()
    body = {"text": "明日のご予約、お待ちしております。", "at": at.isoformat()}
    await w.call("POST", f"/contacts/{w.contact_id}/scheduled-messages", body)
    after = {"text": "明日のご予約、お待ちしております。", "send_at": at.isoformat(), "images": 0}
    return "scheduled_message.created", "scheduled_message", None, after


@case("scheduled message rewritten")
async def _(w: World) -> Any:
    body = {"text": "明日のご予約", "at": _tomorrow().isoformat()}
    made = await w.call("POST", f"/contacts/{w.contact_id}/scheduled-messages", body)
    await w.set_mark()
    await w.call("PATCH", f"/scheduled-messages/{made['id']}", {"text": "明日10時のご予約"})
    before, after = {"text": "明日のご予約"}, {"text": "明日10時のご予約"}
    return "scheduled_message.updated", "scheduled_message", before, after


@case("scheduled message moved to another time")
async def _(w: World) -> Any:
    at = _tomorrow()
    body = {"text": "明日のご予約", "at": at.isoformat()}
    made = await w.call("POST", f"/contacts/{w.contact_id}/scheduled-messages", body)
    later = at + timedelta(hours=2)
    await w.set_mark()
    # Without a zone it is Japan time (the API's rule); the log says it in Japan time too.
    naive = later.replace(tzinfo=None).isoformat()
    await w.call("PATCH", f"/scheduled-messages/{made['id']}", {"at": naive})
    before, after = {"send_at": at.isoformat()}, {"send_at": later.isoformat()}
    return "scheduled_message.updated", "scheduled_message", before, after


@case("scheduled message cancelled")
async def _(w: World) -> Any:
    body = {"text": "明日のご予約", "at": _tomorrow().isoformat()}
    made = await w.call("POST", f"/contacts/{w.contact_id}/scheduled-messages", body)
    await w.set_mark()
    await w.call("DELETE", f"/scheduled-messages/{made['id']}")
    before, after = {"state": "pending"}, {"state": "cancelled"}
    return "scheduled_message.cancelled", "scheduled_message", before, after


@pytest.mark.parametrize("name", list(CASES))
async def test_each_change_leaves_exactly_one_entry_with_the_member_and_before_after(
    world: World, name: str
) -> None:
    kind, subject_type, before, after = await CASES[name](world)
    [entry] = await world.since_mark()
    assert entry["kind"] == kind
    assert entry["subject"]["type"] == subject_type
    assert entry["subject"]["name"] == "山田 花子"
    assert entry["before"] == before
    assert entry["after"] == after
    assert entry["actor"] == {"kind": "member", "id": world.owner.id, "name": "店長"}
    # The kind filter knows it.
    newest_of_kind = (await world.entries(kind=kind))[0]
    assert newest_of_kind["id"] == entry["id"]


async def test_what_changes_nothing_leaves_no_entry(world: World) -> None:
    path = f"/contacts/{world.contact_id}/memos"
    memo = await world.call("POST", path, {"title": "好み", "body": "短め"})
    other = await world.call("POST", path, {"title": "注意", "body": "アレルギー"})
    await world.call("POST", f"/conversations/{world.conversation_id}/follow")
    body = {"text": "明日のご予約", "at": _tomorrow().isoformat()}
    made = await world.call("POST", f"/contacts/{world.contact_id}/scheduled-messages", body)
    await world.set_mark()
    await world.call("PUT", f"{path}/order", {"ids": [other["id"], memo["id"]]})  # as it is
    await world.call("POST", f"/conversations/{world.conversation_id}/follow")  # already
    await world.call("PATCH", f"/scheduled-messages/{made['id']}", {"text": "明日のご予約"})
    assert await world.since_mark() == []


async def test_memos_with_the_same_title_swapped_are_an_entry(world: World) -> None:
    path = f"/contacts/{world.contact_id}/memos"
    older = await world.call("POST", path, {"title": "来店", "body": "4月"})
    newer = await world.call("POST", path, {"title": "来店", "body": "5月"})
    await world.set_mark()
    await world.call("PUT", f"{path}/order", {"ids": [older["id"], newer["id"]]})
    [entry] = await world.since_mark()
    assert entry["kind"] == "memo.reordered"
    assert entry["detail"]["ids_before"] == [newer["id"], older["id"]]
    assert entry["detail"]["ids_after"] == [older["id"], newer["id"]]


# --- follows that come with something else ----------------------------------------------------


async def test_a_colleague_mentioned_in_a_note_follows_without_an_entry(world: World) -> None:
    """The note is what the member did (it is in the thread); the follow comes with it."""
    aya = await world.factory.member(name="彩")
    await world.ctx.db.rollback()
    await world.set_mark()
    body = {"text": "@彩 この方の予約をお願いします", "kind": "note"}
    await world.call("POST", f"/conversations/{world.conversation_id}/messages", body)
    conversation = await world.call("GET", f"/conversations/{world.conversation_id}/detail")
    assert [f["id"] for f in conversation["followers"]] == [aya.id]
    assert await world.since_mark() == []


async def test_a_rule_adding_a_follower_is_an_entry_naming_the_rule(
    world: World, settings: Settings, database: Database
) -> None:
    aya = await world.factory.member(name="彩")
    await world.ctx.db.rollback()
    rule = {
        "name": "予約は彩さんも",
        "when": "message.received",
        "conditions": [{"field": "text", "op": "contains_any", "value": ["予約"]}],
        "actions": [{"type": "add_follower", "member_id": aya.id}],
    }
    await world.call("POST", "/rules", rule)
    channel = await world.factory.channel(name="LINE風")
    await world.ctx.db.rollback()
    await world.set_mark()
    await world.factory.inbound(channel, contact="c-2", name="佐藤", text="予約したいです")
    await world.ctx.db.rollback()
    await Worker(settings=settings, database=database, bus=InProcessBus()).tick()
    [entry] = await world.since_mark()
    assert entry["kind"] == "conversation.followers_changed"
    assert entry["actor"] == {"kind": "rule", "id": None, "name": "予約は彩さんも"}
    assert entry["subject"]["name"] == "佐藤"
    assert (entry["before"], entry["after"]) == ({"followers": []}, {"followers": ["彩"]})


# --- a scheduled message the worker could not send --------------------------------------------


async def test_a_send_given_up_is_an_entry_by_the_system_and_putting_it_away_one_by_the_member(
    world: World, settings: Settings, database: Database
) -> None:
    instagram = await world.factory.channel(kind="instagram", name="Instagram")
    ingested = await world.factory.inbound(instagram, contact="igsid-1", name="佐藤 美咲")
    await world.ctx.db.rollback()
    contact_id = ingested.conversation.contact_id
    at = datetime.now(UTC) + timedelta(hours=30)  # past Instagram's 24 hours
    body = {"text": "先日はありがとうございました。", "at": at.isoformat()}
    made = await world.call("POST", f"/contacts/{contact_id}/scheduled-messages", body)
    await world.set_mark()
    later = at + timedelta(hours=1)
    worker = Worker(settings=settings, database=database, bus=InProcessBus(), clock=lambda: later)
    assert (await worker.tick()).sent == 0
    [failed] = await world.since_mark()
    assert failed["kind"] == "scheduled_message.failed"
    assert failed["actor"] == {"kind": "system", "id": None, "name": "scheduler"}
    assert failed["subject"] == {"type": "scheduled_message", "id": made["id"], "name": "佐藤 美咲"}
    assert failed["before"] == {"state": "pending"}
    assert failed["after"]["state"] == "failed"
    assert "24時間以内" in failed["after"]["error"]

    await world.set_mark()
    await world.call("DELETE", f"/scheduled-messages/{made['id']}")
    [put_away] = await world.since_mark()
    assert put_away["kind"] == "scheduled_message.dismissed"
    assert put_away["actor"] == {"kind": "member", "id": world.owner.id, "name": "店長"}
    assert (put_away["before"], put_away["after"]) == (
        {"state": "failed"},
        {"state": "dismissed"},
    )


async def test_a_message_sent_at_its_time_is_no_entry(
    world: World, settings: Settings, database: Database
) -> None:
    made = await scheduled.schedule(
        world.ctx,
        contact_id=world.contact_id,
        text="本日はありがとうございました。",
        at=datetime.now(UTC) + timedelta(hours=1),
        author=world.owner,
    )
    await world.ctx.db.rollback()
    await world.set_mark()
    later = made.at + timedelta(minutes=1)
    worker = Worker(settings=settings, database=database, bus=InProcessBus(), clock=lambda: later)
    assert (await worker.tick()).sent == 1
    assert await world.since_mark() == []


# --- folders made by naming them --------------------------------------------------------------


async def _folder_entries(w: World, kind: str) -> list[Json]:
    return [e for e in await w.since_mark() if e["kind"] == kind]


async def test_a_tag_in_a_new_folder_writes_the_folder_s_entry(world: World) -> None:
    await world.set_mark()
    await world.call("POST", "/tags", {"name": "VIP", "folder": "来店"})
    kinds = sorted(e["kind"] for e in await world.since_mark())
    assert kinds == ["tag.created", "tag_folder.created"]
    [folder] = await _folder_entries(world, "tag_folder.created")
    assert folder["after"] == {"name": "来店", "parent": None}
    assert folder["actor"] == {"kind": "member", "id": world.owner.id, "name": "店長"}
    # Naming it again makes nothing new.
    await world.set_mark()
    await world.call("POST", "/tags", {"name": "常連", "folder": "来店"})
    assert [e["kind"] for e in await world.since_mark()] == ["tag.created"]


async def test_a_tag_moved_to_a_new_folder_writes_the_folder_s_entry(world: World) -> None:
    tag = await world.call("POST", "/tags", {"name": "VIP"})
    await world.set_mark()
    await world.call("PATCH", f"/tags/{tag['id']}", {"folder": "ランク"})
    kinds = sorted(e["kind"] for e in await world.since_mark())
    assert kinds == ["tag.updated", "tag_folder.created"]
    [folder] = await _folder_entries(world, "tag_folder.created")
    assert (folder["before"], folder["after"]) == (None, {"name": "ランク", "parent": None})


async def test_a_refused_tag_leaves_no_folder_and_no_entry(world: World) -> None:
    await world.call("POST", "/tag-folders", {"name": "来店"})
    await world.call("POST", "/tags", {"name": "VIP", "folder": "来店"})
    agent = auth(await world.factory.token(await world.factory.member(role="agent")))
    await world.ctx.db.rollback()
    await world.set_mark()
    refused = await world.client.post(
        "/api/v1/tags", json={"name": "VIP", "folder": "ランク"}, headers=agent
    )
    assert refused.status_code == 403  # an agent names no new folder
    assert await world.since_mark() == []


async def test_a_field_in_a_new_folder_writes_the_folder_s_entry(world: World) -> None:
    await world.set_mark()
    body = {"key": "birthday", "label": "誕生日", "type": "date", "folder": "基本情報"}
    field = await world.call("POST", "/fields", body)
    kinds = sorted(e["kind"] for e in await world.since_mark())
    assert kinds == ["field.created", "field_folder.created"]
    [folder] = await _folder_entries(world, "field_folder.created")
    assert (folder["before"], folder["after"]) == (None, {"name": "基本情報"})
    await world.set_mark()
    await world.call("PATCH", f"/fields/{field['id']}", {"folder": "記念日"})
    kinds = sorted(e["kind"] for e in await world.since_mark())
    assert kinds == ["field.updated", "field_folder.created"]


async def test_an_explicit_folder_is_still_one_entry(world: World) -> None:
    await world.set_mark()
    await world.call("POST", "/field-folders", {"name": "基本情報"})
    await world.call("POST", "/tag-folders", {"name": "来店"})
    kinds = [e["kind"] for e in await world.since_mark()]
    assert kinds == ["tag_folder.created", "field_folder.created"]


async def test_an_import_naming_a_new_folder_writes_the_folder_s_entry(world: World) -> None:
    rows = "表示名,タグ\n佐藤 一郎,来店：VIP\n鈴木 二郎,来店：VIP\n".encode()
    table = transfer.read_table("customers.csv", rows, "utf-8")
    mapping = transfer.auto_mapping(table.headers, [], {})
    await world.set_mark()
    await transfer.import_contacts(world.ctx, table, mapping=mapping)
    await world.ctx.db.rollback()
    kinds = sorted(e["kind"] for e in await world.since_mark())
    assert kinds == ["contacts.imported", "tag.created", "tag_folder.created"]
    [folder] = await _folder_entries(world, "tag_folder.created")
    assert folder["after"] == {"name": "来店", "parent": None}
    [tag] = [e for e in await world.since_mark() if e["kind"] == "tag.created"]
    assert tag["after"] == {"name": "VIP", "folder": "来店"}


async def test_an_import_naming_a_new_tag_writes_the_tag_s_entry_once(world: World) -> None:
    rows = "表示名,タグ\n佐藤 一郎,常連\n鈴木 二郎,常連\n".encode()
    table = transfer.read_table("customers.csv", rows, "utf-8")
    mapping = transfer.auto_mapping(table.headers, [], {})
    await world.set_mark()
    await transfer.import_contacts(world.ctx, table, mapping=mapping)
    await world.ctx.db.rollback()
    entries = await world.since_mark()
    assert sorted(e["kind"] for e in entries) == ["contacts.imported", "tag.created"]
    [tag] = [e for e in entries if e["kind"] == "tag.created"]
    assert tag["after"] == {"name": "常連", "folder": None}


# --- an import that stops partway -------------------------------------------------------------


def _customers(n: int) -> transfer.Table:
    lines = ["表示名,電話"] + [f"顧客{i:02d},03-1234-{i:04d}" for i in range(1, n + 1)]
    return transfer.read_table("customers.csv", ("\n".join(lines) + "\n").encode(), "utf-8")


async def _contacts(ctx: Ctx) -> int:
    await ctx.db.rollback()
    return int(await ctx.db.scalar(select(func.count()).select_from(Contact)) or 0)


def _stopping_at(row: int, error: BaseException) -> Callable[[int], None]:
    """The caller's progress hook, stopped at ``row`` (a CLI's Ctrl-C, a page closed, a fault)."""

    def progress(done: int) -> None:
        if done == row:
            raise error

    return progress


async def test_an_import_that_fails_halfway_accounts_for_the_rows_it_kept(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(transfer, "BATCH", 3)
    table = _customers(8)
    mapping = transfer.auto_mapping(table.headers, [], {})
    before = await _contacts(world.ctx)
    await world.set_mark()
    with pytest.raises(RuntimeError, match="disk full"):
        await transfer.import_contacts(
            world.ctx,
            table,
            mapping=mapping,
            progress=_stopping_at(7, RuntimeError("disk full\nmore detail")),
        )
    # Two batches of three were committed; the seventh row's batch was not.
    assert await _contacts(world.ctx) == before + 6
    [entry] = await world.since_mark()
    assert entry["kind"] == "contacts.import_failed"
    assert entry["actor"]["kind"] == "system"
    assert entry["subject"]["type"] == "contacts"
    assert entry["before"] is None
    assert entry["after"] == {
        "rows": 8,
        "created": 6,
        "updated": 0,
        "skipped": 0,
        "last_line": 7,  # the header is line 1: the sixth row is line 7
        "failed_line": 8,
        "error": "RuntimeError: disk full",
    }


async def test_an_import_cancelled_halfway_says_so(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(transfer, "BATCH", 2)
    table = _customers(5)
    mapping = transfer.auto_mapping(table.headers, [], {})
    await world.set_mark()
    with pytest.raises(asyncio.CancelledError):
        await transfer.import_contacts(
            world.ctx,
            table,
            mapping=mapping,
            progress=_stopping_at(3, asyncio.CancelledError()),
        )
    await world.ctx.db.rollback()
    [entry] = await world.since_mark()
    assert entry["kind"] == "contacts.import_failed"
    assert entry["after"]["created"] == 2
    assert (entry["after"]["failed_line"], entry["after"]["error"]) == (4, "cancelled")


async def test_an_import_that_fails_before_a_batch_is_kept_leaves_nothing(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(transfer, "BATCH", 3)
    table = _customers(5)
    mapping = transfer.auto_mapping(table.headers, [], {})
    before = await _contacts(world.ctx)
    await world.set_mark()
    with pytest.raises(RuntimeError):
        await transfer.import_contacts(
            world.ctx, table, mapping=mapping, progress=_stopping_at(2, RuntimeError("stop"))
        )
    assert await _contacts(world.ctx) == before
    assert await world.since_mark() == []


async def test_an_import_in_several_batches_is_still_one_entry(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(transfer, "BATCH", 2)
    table = _customers(5)
    mapping = transfer.auto_mapping(table.headers, [], {})
    await world.set_mark()
    result = await transfer.import_contacts(world.ctx, table, mapping=mapping)
    await world.ctx.db.rollback()
    assert result.created == 5
    [entry] = await world.since_mark()
    assert entry["kind"] == "contacts.imported"
    assert entry["after"] == {"rows": 5, "created": 5, "updated": 0, "skipped": 0}


# --- the settings page ------------------------------------------------------------------------


async def test_the_page_names_the_new_kinds_in_japanese_with_before_and_after(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    web = world.client
    await sign_in(web, world.owner)
    path = f"/contacts/{world.contact_id}/memos"
    likes = await world.call("POST", path, {"title": "好み", "body": "短め"})
    careful = await world.call("POST", path, {"title": "注意", "body": "アレルギー"})
    await world.call("PUT", f"{path}/order", {"ids": [likes["id"], careful["id"]]})
    await world.call("POST", f"/conversations/{world.conversation_id}/follow")
    body = {"text": "明日のご予約", "at": "2030-01-05T10:30:00+09:00"}
    await world.call("POST", f"/contacts/{world.contact_id}/scheduled-messages", body)
    monkeypatch.setattr(transfer, "BATCH", 2)
    table = _customers(3)
    with pytest.raises(asyncio.CancelledError):
        await transfer.import_contacts(
            world.ctx,
            table,
            mapping=transfer.auto_mapping(table.headers, [], {}),
            progress=_stopping_at(3, asyncio.CancelledError()),
        )
    await world.ctx.db.rollback()

    page = (await web.get("/settings/audit", headers=HTML)).text
    assert "お客様メモを並べ替え" in page
    assert "並び順</dt>" in page and "注意、好み → 好み、注意" in page
    assert "問い合わせのフォロワーを変更" in page and "（なし） → 店長" in page
    assert "送信予約を追加" in page and "送信予約「山田 花子」" in page
    assert "送信日時</dt>" in page and "2030-01-05 10:30" in page
    assert "お客様のインポートが途中で停止" in page
    assert "止まった行</dt>" in page and "インポートが中断されました" in page
    # The kind filter takes the new kinds, on the page and in the API.
    for kind in ("memo.reordered", "conversation.followers_changed", "contacts.import_failed"):
        filtered = await web.get("/settings/audit", params={"kind": kind}, headers=HTML)
        assert filtered.status_code == 200
        assert f'<option value="{kind}" selected>' in filtered.text
    listed = await web.get("/api/v1/audit", params={"kind": "scheduled_message.created"})
    assert [e["kind"] for e in listed.json()["items"]] == ["scheduled_message.created"]
