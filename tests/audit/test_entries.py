"""Every change a member makes through the API leaves exactly one audit entry (F40), naming the
member, the kind, the subject and the changed fields before and after; a rule's and the
system's changes name the rule and the system."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from madoguchi.automation import autoclose
from madoguchi.config import Settings
from madoguchi.contacts import transfer
from madoguchi.conversations import workflow
from madoguchi.events import InProcessBus
from madoguchi.jobs import Worker
from madoguchi.kit.context import Ctx
from madoguchi.kit.db import Database
from madoguchi.members.models import Member
from tests.fixtures import Factory

Json = dict[str, Any]
SOMEONE = [{"field": "status", "op": "eq", "value": "対応中"}]


@dataclass
class World:
    """An owner signed in with a token, a conversation with 山田 花子, and the log's newest id."""

    client: httpx.AsyncClient
    factory: Factory
    ctx: Ctx
    owner: Member
    headers: dict[str, str]
    contact_id: int
    conversation_id: int
    mark: int = 0

    async def call(self, method: str, path: str, body: Any = None) -> Any:
        response = await self.client.request(
            method, "/api/v1" + path, json=body, headers=self.headers
        )
        assert response.status_code < 300, (path, response.status_code, response.text)
        return response.json() if response.content else None

    async def entries(self, **params: Any) -> list[Json]:
        """Every entry, newest first (all pages)."""
        found: list[Json] = []
        cursor = None
        while True:
            asked = {**params, "limit": 200, **({"cursor": cursor} if cursor else {})}
            page = await self.client.get("/api/v1/audit", params=asked, headers=self.headers)
            assert page.status_code == 200, page.text
            found += page.json()["items"]
            cursor = page.json()["next_cursor"]
            if cursor is None:
                return found

    async def set_mark(self) -> None:
        """What follows is the change under test."""
        newest = await self.entries()
        self.mark = newest[0]["id"] if newest else 0

    async def since_mark(self) -> list[Json]:
        return [e for e in await self.entries() if e["id"] > self.mark]

    async def named(self, path: str, name: str, key: str = "name") -> Json:
        items = (await self.call("GET", path))["items"]
        [found] = [item for item in items if item[key] == name]
        return found  # type: ignore[no-any-return]


# Each case: set up (through the API), then ``set_mark``, then the one change; it answers the
# entry's kind, subject type, before and after.
Case = Callable[[World], Awaitable[tuple[str, str, Json | None, Json | None]]]


class Cases(dict[str, Case]):
    """A module's cases by name; ``@cases("name")`` adds one."""

    def __call__(self, name: str) -> Callable[[Case], Case]:
        def add(run: Case) -> Case:
            self[name] = run
            return run

        return add


CASES = Cases()
case = CASES


# --- support statuses and marks ---------------------------------------------------------------


@case("status created")
async def _(w: World) -> Any:
    await w.set_mark()
    await w.call("POST", "/statuses", {"name": "予約済み", "color": "#2563eb"})
    return "status.created", "status", None, {"name": "予約済み", "color": "#2563eb"}


@case("status renamed")
async def _(w: World) -> Any:
    status = await w.named("/statuses", "対応中")
    await w.set_mark()
    await w.call("PATCH", f"/statuses/{status['id']}", {"name": "対応中（担当決定）"})
    return "status.updated", "status", {"name": "対応中"}, {"name": "対応中（担当決定）"}


@case("status recoloured")
async def _(w: World) -> Any:
    status = await w.named("/statuses", "完了")
    await w.set_mark()
    await w.call("PATCH", f"/statuses/{status['id']}", {"color": "#64748b"})
    return "status.updated", "status", {"color": "#16a34a"}, {"color": "#64748b"}


@case("status deleted")
async def _(w: World) -> Any:
    status = await w.named("/statuses", "連絡待ち")
    await w.set_mark()
    await w.call("DELETE", f"/statuses/{status['id']}")
    return "status.deleted", "status", {"name": "連絡待ち", "color": "#d97706"}, None


@case("statuses reordered")
async def _(w: World) -> Any:
    statuses = (await w.call("GET", "/statuses"))["items"]
    await w.set_mark()
    await w.call("PUT", "/statuses/order", {"ids": [s["id"] for s in reversed(statuses)]})
    names = [s["name"] for s in statuses]
    return "status.reordered", "status", {"order": names}, {"order": names[::-1]}


@case("mark renamed")
async def _(w: World) -> Any:
    mark = await w.named("/marks", "質問(低)")
    await w.set_mark()
    await w.call("PATCH", f"/marks/{mark['id']}", {"name": "質問"})
    return "mark.updated", "mark", {"name": "質問(低)"}, {"name": "質問"}


# --- tags, fields and record books ------------------------------------------------------------


@case("tag folder created")
async def _(w: World) -> Any:
    await w.set_mark()
    await w.call("POST", "/tag-folders", {"name": "来店"})
    return "tag_folder.created", "tag_folder", None, {"name": "来店", "parent": None}


@case("tag folder renamed")
async def _(w: World) -> Any:
    folder = await w.call("POST", "/tag-folders", {"name": "来店"})
    await w.set_mark()
    await w.call("PATCH", f"/tag-folders/{folder['id']}", {"name": "来店状況"})
    return "tag_folder.renamed", "tag_folder", {"name": "来店"}, {"name": "来店状況"}


@case("tag folder deleted")
async def _(w: World) -> Any:
    folder = await w.call("POST", "/tag-folders", {"name": "来店"})
    await w.set_mark()
    await w.call("DELETE", f"/tag-folders/{folder['id']}")
    return "tag_folder.deleted", "tag_folder", {"name": "来店"}, None


@case("tag created")
async def _(w: World) -> Any:
    await w.set_mark()
    await w.call("POST", "/tags", {"name": "VIP"})
    return "tag.created", "tag", None, {"name": "VIP", "folder": None}


@case("tag renamed")
async def _(w: World) -> Any:
    tag = await w.call("POST", "/tags", {"name": "VIP"})
    await w.set_mark()
    await w.call("PATCH", f"/tags/{tag['id']}", {"name": "常連"})
    return "tag.updated", "tag", {"name": "VIP"}, {"name": "常連"}


@case("tag deleted")
async def _(w: World) -> Any:
    tag = await w.call("POST", "/tags", {"name": "VIP"})
    await w.set_mark()
    await w.call("DELETE", f"/tags/{tag['id']}")
    return "tag.deleted", "tag", {"name": "VIP", "folder": None}, None


@case("field folder created")
async def _(w: World) -> Any:
    await w.set_mark()
    await w.call("POST", "/field-folders", {"name": "基本情報"})
    return "field_folder.created", "field_folder", None, {"name": "基本情報"}


@case("field created")
async def _(w: World) -> Any:
    await w.set_mark()
    await w.call("POST", "/fields", {"key": "birthday", "label": "誕生日", "type": "date"})
    after = {
        "key": "birthday",
        "type": "date",
        "label": "誕生日",
        "folder": None,
        "options": [],
        "show_in_chat": True,
    }
    return "field.created", "field", None, after


@case("field relabelled")
async def _(w: World) -> Any:
    field = await w.call("POST", "/fields", {"key": "birthday", "label": "誕生日", "type": "date"})
    await w.set_mark()
    await w.call("PATCH", f"/fields/{field['id']}", {"label": "生年月日", "show_in_chat": False})
    before = {"label": "誕生日", "show_in_chat": True}
    return "field.updated", "field", before, {"label": "生年月日", "show_in_chat": False}


@case("field deleted")
async def _(w: World) -> Any:
    field = await w.call("POST", "/fields", {"key": "birthday", "label": "誕生日", "type": "date"})
    await w.set_mark()
    await w.call("DELETE", f"/fields/{field['id']}")
    return "field.deleted", "field", {"key": "birthday", "label": "誕生日", "type": "date"}, None


@case("record book renamed")
async def _(w: World) -> Any:
    fields = [{"key": "menu", "label": "メニュー", "type": "text"}]
    book = await w.call("POST", "/record-books", {"name": "来店記録", "fields": fields})
    await w.set_mark()
    await w.call("PATCH", f"/record-books/{book['id']}", {"name": "施術履歴"})
    return "book.updated", "book", {"name": "来店記録"}, {"name": "施術履歴"}


# --- a contact --------------------------------------------------------------------------------


@case("contact tagged")
async def _(w: World) -> Any:
    tag = await w.call("POST", "/tags", {"name": "VIP"})
    await w.set_mark()
    await w.call("PUT", f"/contacts/{w.contact_id}/tags/{tag['id']}")
    return "contact.tags_changed", "contact", {"tags": []}, {"tags": ["VIP"]}


@case("contact untagged")
async def _(w: World) -> Any:
    vip = await w.call("POST", "/tags", {"name": "VIP"})
    new = await w.call("POST", "/tags", {"name": "新規"})
    await w.call("PUT", f"/contacts/{w.contact_id}/tags", {"ids": [vip["id"], new["id"]]})
    await w.set_mark()
    await w.call("DELETE", f"/contacts/{w.contact_id}/tags/{new['id']}")
    return "contact.tags_changed", "contact", {"tags": ["VIP", "新規"]}, {"tags": ["VIP"]}


@case("contact's tags set")
async def _(w: World) -> Any:
    vip = await w.call("POST", "/tags", {"name": "VIP"})
    new = await w.call("POST", "/tags", {"name": "新規"})
    await w.call("PUT", f"/contacts/{w.contact_id}/tags", {"ids": [new["id"]]})
    await w.set_mark()
    await w.call("PUT", f"/contacts/{w.contact_id}/tags", {"ids": [vip["id"]]})
    return "contact.tags_changed", "contact", {"tags": ["新規"]}, {"tags": ["VIP"]}


@case("contact's field set")
async def _(w: World) -> Any:
    await w.call("POST", "/fields", {"key": "visits", "label": "来店回数", "type": "number"})
    await w.call("PUT", f"/contacts/{w.contact_id}/fields/visits", {"value": 2})
    await w.set_mark()
    await w.call("PUT", f"/contacts/{w.contact_id}/fields/visits", {"value": 3})
    return "contact.field_changed", "contact", {"来店回数": 2}, {"来店回数": 3}


@case("contact's field cleared")
async def _(w: World) -> Any:
    await w.call("POST", "/fields", {"key": "visits", "label": "来店回数", "type": "number"})
    await w.call("PUT", f"/contacts/{w.contact_id}/fields/visits", {"value": 2})
    await w.set_mark()
    await w.call("DELETE", f"/contacts/{w.contact_id}/fields/visits")
    return "contact.field_changed", "contact", {"来店回数": 2}, {"来店回数": None}


@case("contact's status")
async def _(w: World) -> Any:
    await w.set_mark()
    await w.call("PATCH", f"/contacts/{w.contact_id}", {"status": "対応中"})
    return "contact.updated", "contact", {"status": None}, {"status": "対応中"}


@case("contact renamed")
async def _(w: World) -> Any:
    await w.set_mark()
    await w.call("PATCH", f"/contacts/{w.contact_id}", {"display_name": "山田 花子様"})
    # The suggested reading follows the name (one typed by a member would stay).
    before = {"display_name": "山田 花子", "reading": "ヤマダ ハナコ"}
    after = {"display_name": "山田 花子様", "reading": "ヤマダ ハナコサマ"}
    return "contact.updated", "contact", before, after


@case("contact's phone and e-mail")
async def _(w: World) -> Any:
    await w.set_mark()
    body = {"phone": "090-1234-5678", "email": "hanako@example.jp"}
    await w.call("PATCH", f"/contacts/{w.contact_id}", body)
    after = {"email": "hanako@example.jp", "phone": "090-1234-5678"}
    return "contact.updated", "contact", {"email": None, "phone": None}, after


@case("contact's mark")
async def _(w: World) -> Any:
    await w.set_mark()
    await w.call("PATCH", f"/contacts/{w.contact_id}", {"mark": "クレーム"})
    return "contact.updated", "contact", {"mark": None}, {"mark": "クレーム"}


@case("contact added")
async def _(w: World) -> Any:
    await w.set_mark()
    await w.call("POST", "/contacts", {"display_name": "佐藤 一郎", "phone": "03-1234-5678"})
    after = {"display_name": "佐藤 一郎", "email": None, "phone": "03-1234-5678"}
    return "contact.created", "contact", None, after


@case("contact deleted")
async def _(w: World) -> Any:
    await w.set_mark()
    await w.call("DELETE", f"/contacts/{w.contact_id}")
    before = {"display_name": "山田 花子", "email": None, "phone": None}
    return "contact.deleted", "contact", before, None


@case("memo written")
async def _(w: World) -> Any:
    await w.set_mark()
    await w.call("POST", f"/contacts/{w.contact_id}/memos", {"title": "好み", "body": "短め"})
    return "memo.created", "memo", None, {"title": "好み", "body": "短め"}


@case("memo edited")
async def _(w: World) -> Any:
    path = f"/contacts/{w.contact_id}/memos"
    memo = await w.call("POST", path, {"title": "好み", "body": "短め"})
    await w.set_mark()
    await w.call("PATCH", f"{path}/{memo['id']}", {"body": "肩まで"})
    return "memo.updated", "memo", {"body": "短め"}, {"body": "肩まで"}


@case("memo deleted")
async def _(w: World) -> Any:
    path = f"/contacts/{w.contact_id}/memos"
    memo = await w.call("POST", path, {"title": "好み", "body": "短め"})
    await w.set_mark()
    await w.call("DELETE", f"{path}/{memo['id']}")
    return "memo.deleted", "memo", {"title": "好み", "body": "短め"}, None


# --- a conversation ---------------------------------------------------------------------------


@case("assigned")
async def _(w: World) -> Any:
    aya = await w.factory.member(name="彩")
    await w.ctx.db.rollback()
    await w.set_mark()
    await w.call("POST", f"/conversations/{w.conversation_id}/assign", {"member_id": aya.id})
    return "conversation.assigned", "conversation", {"assignee": None}, {"assignee": "彩"}


@case("closed")
async def _(w: World) -> Any:
    await w.set_mark()
    await w.call("POST", f"/conversations/{w.conversation_id}/close", {})
    return "conversation.state_changed", "conversation", {"state": "open"}, {"state": "closed"}


@case("reopened")
async def _(w: World) -> Any:
    await w.call("POST", f"/conversations/{w.conversation_id}/close", {})
    await w.set_mark()
    await w.call("POST", f"/conversations/{w.conversation_id}/reopen", {})
    return "conversation.state_changed", "conversation", {"state": "closed"}, {"state": "open"}


@case("snoozed")
async def _(w: World) -> Any:
    until = (datetime.now(UTC) + timedelta(days=1)).replace(microsecond=0)
    await w.set_mark()
    body = {"until": until.isoformat()}
    await w.call("POST", f"/conversations/{w.conversation_id}/snooze", body)
    before = {"state": "open", "snooze_until": None}
    after = {"state": "snoozed", "snooze_until": until.isoformat()}
    return "conversation.state_changed", "conversation", before, after


@case("conversation memo")
async def _(w: World) -> Any:
    await w.set_mark()
    await w.call("PUT", f"/conversations/{w.conversation_id}/memo", {"memo": "予約変更の相談"})
    return "conversation.memo_changed", "conversation", {"memo": ""}, {"memo": "予約変更の相談"}


@case("conversation tags")
async def _(w: World) -> Any:
    tag = await w.call("POST", "/conversation-tags", {"name": "予約"})
    await w.set_mark()
    await w.call("PUT", f"/conversations/{w.conversation_id}/tags", {"ids": [tag["id"]]})
    return "conversation.tags_changed", "conversation", {"tags": []}, {"tags": ["予約"]}


@case("conversation tag created")
async def _(w: World) -> Any:
    await w.set_mark()
    await w.call("POST", "/conversation-tags", {"name": "予約", "color": "#2563eb"})
    after = {"name": "予約", "color": "#2563eb"}
    return "conversation_tag.created", "conversation_tag", None, after


@case("conversation deleted")
async def _(w: World) -> Any:
    await w.set_mark()
    await w.call("DELETE", f"/conversations/{w.conversation_id}")
    return "conversation.deleted", "conversation", None, None


# --- templates, automation and settings -------------------------------------------------------


@case("template created")
async def _(w: World) -> Any:
    await w.set_mark()
    await w.call("POST", "/templates", {"name": "お礼", "text": "ありがとうございました"})
    after = {"name": "お礼", "text": "ありがとうございました", "folder": None, "images": 0}
    return "template.created", "template", None, after


@case("template edited")
async def _(w: World) -> Any:
    made = await w.call("POST", "/templates", {"name": "お礼", "text": "ありがとうございました"})
    await w.set_mark()
    await w.call("PATCH", f"/templates/{made['id']}", {"text": "またのご来店を"})
    before, after = {"text": "ありがとうございました"}, {"text": "またのご来店を"}
    return "template.updated", "template", before, after


@case("message filter edited")
async def _(w: World) -> Any:
    made = await w.call("POST", "/message-filters", {"match": "exact", "text": "了解"})
    await w.set_mark()
    await w.call("PATCH", f"/message-filters/{made['id']}", {"match": "contains"})
    return "message_filter.updated", "message_filter", {"match": "exact"}, {"match": "contains"}


@case("action renamed")
async def _(w: World) -> Any:
    made = await w.call("POST", "/actions", {"name": "予約完了", "steps": [{"type": "hide"}]})
    await w.set_mark()
    await w.call("PATCH", f"/actions/{made['id']}", {"name": "予約済みにする"})
    return "action.updated", "action", {"name": "予約完了"}, {"name": "予約済みにする"}


@case("rule switched off")
async def _(w: World) -> Any:
    body = {"name": "夜間", "when": "message.received", "actions": [{"type": "close"}]}
    made = await w.call("POST", "/rules", body)
    await w.set_mark()
    await w.call("PATCH", f"/rules/{made['id']}", {"enabled": False})
    return "rule.updated", "rule", {"enabled": True}, {"enabled": False}


@case("segment renamed")
async def _(w: World) -> Any:
    made = await w.call("POST", "/segments", {"name": "全員", "conditions": SOMEONE})
    await w.set_mark()
    await w.call("PATCH", f"/segments/{made['id']}", {"name": "すべてのお客様"})
    return "segment.updated", "segment", {"name": "全員"}, {"name": "すべてのお客様"}


@case("broadcast paused")
async def _(w: World) -> Any:
    segment = await w.call("POST", "/segments", {"name": "全員", "conditions": SOMEONE})
    at = (datetime.now(UTC) + timedelta(days=2)).isoformat()
    made = await w.call("POST", "/broadcasts", {"segment": segment["id"], "text": "冬", "at": at})
    await w.set_mark()
    await w.call("POST", f"/broadcasts/{made['id']}/pause")
    return "broadcast.paused", "broadcast", {"status": "scheduled"}, {"status": "paused"}


@case("form closed")
async def _(w: World) -> Any:
    question = {"key": "name", "label": "お名前", "type": "text", "maps_to": "name"}
    made = await w.call("POST", "/forms", {"name": "アンケート", "fields": [question]})
    await w.set_mark()
    await w.call("PATCH", f"/forms/{made['id']}", {"closed": True})
    return "form.updated", "form", {"closed": False}, {"closed": True}


@case("unread setting")
async def _(w: World) -> Any:
    await w.set_mark()
    await w.call("PATCH", "/workspace", {"unread": "member"})
    return "settings.changed", "setting", {"unread": "team"}, {"unread": "member"}


@case("auto-close setting")
async def _(w: World) -> Any:
    await w.set_mark()
    await w.call("PUT", "/auto-close", {"after_hours": 24, "message": "終了します"})
    before = {"after_hours": None, "message": ""}
    return "settings.changed", "setting", before, {"after_hours": 24, "message": "終了します"}


@case("channel renamed")
async def _(w: World) -> Any:
    channel = await w.call("POST", "/channels", {"kind": "api", "name": "予約システム"})
    await w.set_mark()
    await w.call("PATCH", f"/channels/{channel['id']}", {"name": "予約サイト"})
    return "channel.updated", "channel", {"name": "予約システム"}, {"name": "予約サイト"}


@case("member's role")
async def _(w: World) -> Any:
    aya = await w.factory.member(name="彩")
    await w.ctx.db.rollback()
    await w.set_mark()
    await w.call("PATCH", f"/members/{aya.id}", {"role": "admin"})
    return "member.role_changed", "member", {"role": "agent"}, {"role": "admin"}


@pytest.mark.parametrize("name", list(CASES))
async def test_each_change_leaves_exactly_one_entry_with_the_member_and_the_changed_fields(
    world: World, name: str
) -> None:
    kind, subject_type, before, after = await CASES[name](world)
    [entry] = await world.since_mark()
    assert entry["kind"] == kind
    assert entry["subject"]["type"] == subject_type
    assert entry["before"] == before
    assert entry["after"] == after
    assert entry["actor"] == {"kind": "member", "id": world.owner.id, "name": "店長"}
    assert datetime.fromisoformat(entry["at"]).tzinfo is not None


async def test_a_change_that_changes_nothing_leaves_no_entry(world: World) -> None:
    status = await world.named("/statuses", "対応中")
    await world.call("PATCH", f"/contacts/{world.contact_id}", {"status": "対応中"})
    await world.set_mark()
    await world.call("PATCH", f"/statuses/{status['id']}", {"name": "対応中"})
    await world.call("PATCH", f"/contacts/{world.contact_id}", {"status": "対応中"})
    assert await world.since_mark() == []


async def test_a_refused_change_leaves_no_entry(world: World) -> None:
    await world.call("POST", "/statuses", {"name": "予約済み"})
    status = await world.named("/statuses", "対応中")
    await world.set_mark()
    clash = await world.client.patch(
        f"/api/v1/statuses/{status['id']}", json={"name": "予約済み"}, headers=world.headers
    )
    assert clash.status_code == 409
    assert await world.since_mark() == []


async def test_the_subject_keeps_its_name_after_it_is_deleted(world: World) -> None:
    tag = await world.call("POST", "/tags", {"name": "VIP"})
    await world.call("DELETE", f"/tags/{tag['id']}")
    [deleted, created] = [e for e in await world.entries() if e["subject"]["type"] == "tag"]
    assert deleted["subject"] == {"type": "tag", "id": tag["id"], "name": "VIP"}
    assert created["kind"] == "tag.created" and deleted["kind"] == "tag.deleted"


# --- rules and the system ---------------------------------------------------------------------


async def test_a_rule_s_changes_are_entries_naming_the_rule(
    world: World, settings: Settings, database: Database
) -> None:
    tag = await world.call("POST", "/tags", {"name": "返品"})
    aya = await world.factory.member(name="彩")
    await world.ctx.db.rollback()
    rule = {
        "name": "返品の相談",
        "when": "message.received",
        "conditions": [{"field": "text", "op": "contains_any", "value": ["返品"]}],
        "actions": [
            {"type": "add_tag", "tag_id": tag["id"]},
            {"type": "assign", "member_id": aya.id},
        ],
    }
    await world.call("POST", "/rules", rule)
    channel = await world.factory.channel(name="LINE風")
    await world.ctx.db.rollback()
    await world.set_mark()
    await world.factory.inbound(channel, contact="c-2", name="佐藤", text="返品したい")
    await world.ctx.db.rollback()
    await Worker(settings=settings, database=database, bus=InProcessBus()).tick()
    entries = await world.since_mark()
    assert {e["kind"] for e in entries} == {"contact.tags_changed", "conversation.assigned"}
    for entry in entries:
        assert entry["actor"] == {"kind": "rule", "id": None, "name": "返品の相談"}
    [tagged] = [e for e in entries if e["kind"] == "contact.tags_changed"]
    assert tagged["subject"]["name"] == "佐藤"
    assert (tagged["before"], tagged["after"]) == ({"tags": []}, {"tags": ["返品"]})
    # The customer's message itself is no entry.


async def test_auto_close_is_an_entry_made_by_the_system(world: World) -> None:
    await world.call("PUT", "/auto-close", {"after_hours": 1})
    await world.set_mark()
    later = datetime.now(UTC) + timedelta(hours=2)
    assert await autoclose.close_idle(world.ctx, now=later) == 1
    [entry] = await world.since_mark()
    assert entry["kind"] == "conversation.state_changed"
    assert entry["actor"] == {"kind": "system", "id": None, "name": "auto_close"}
    assert (entry["before"], entry["after"]) == ({"state": "open"}, {"state": "closed"})
    assert entry["subject"] == {
        "type": "conversation",
        "id": world.conversation_id,
        "name": "山田 花子",
    }


async def test_a_snooze_ending_is_an_entry_made_by_the_system(world: World) -> None:
    until = datetime.now(UTC) + timedelta(hours=1)
    body = {"until": until.isoformat()}
    await world.call("POST", f"/conversations/{world.conversation_id}/snooze", body)
    await world.set_mark()
    assert await workflow.wake_due(world.ctx, now=until + timedelta(minutes=1)) == 1
    [entry] = await world.since_mark()
    assert entry["actor"] == {"kind": "system", "id": None, "name": "scheduler"}
    assert (entry["before"], entry["after"]) == ({"state": "snoozed"}, {"state": "open"})


async def test_an_import_is_one_entry_with_its_counts(world: World) -> None:
    rows = "表示名,電話\n佐藤 一郎,03-1234-5678\n鈴木 二郎,03-2345-6789\n,\n".encode()
    table = transfer.read_table("customers.csv", rows, "utf-8")
    mapping = transfer.auto_mapping(table.headers, [], {})
    await world.set_mark()
    result = await transfer.import_contacts(world.ctx, table, mapping=mapping)
    await world.ctx.db.rollback()
    assert result.created == 2
    [entry] = await world.since_mark()
    assert entry["kind"] == "contacts.imported"
    assert entry["actor"]["kind"] == "system"  # not signed in: the system (or the command line)
    assert entry["after"] == {
        "rows": len(table.rows),
        "created": 2,
        "updated": 0,
        "skipped": len(result.rejected),
    }
