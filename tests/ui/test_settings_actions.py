"""アクション in the settings: the step editor (add, move, remove steps; each type asks for what
it needs), saving through the service, and its refusals shown next to the step."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from madoguchi.kit.i18n import gettext_for
from tests.fixtures import Factory
from tests.ui.conftest import HTML, HTMX, sign_in
from tests.ui.settings_support import api_items, api_named, section


@pytest.fixture
async def owner(client: httpx.AsyncClient, factory: Factory) -> httpx.AsyncClient:
    await sign_in(client, await factory.member(role="owner", name="店長"))
    return client


async def created(client: httpx.AsyncClient, path: str, body: dict[str, Any]) -> int:
    response = await client.post(f"/api/v1/{path}", json=body)
    assert response.status_code == 201, response.text
    identifier: int = response.json()["id"]
    return identifier


def chosen_types(html: str) -> list[str]:
    """Each step's type, in order, as the editor shows it."""
    found = re.findall(
        r'<select id="[\w-]+-step-(\d+)-type".*?<option value="(\w+)" selected', html, re.S
    )
    return [kind for _index, kind in found]


async def test_the_page_says_each_action_s_steps_in_words_in_japanese(
    owner: httpx.AsyncClient,
) -> None:
    template_id = await created(
        owner, "templates", {"name": "予約の確認", "text": "ありがとうございます"}
    )
    tag_id = await created(owner, "tags", {"name": "VIP"})
    status = await api_named(owner, "statuses", "対応中")
    await created(
        owner,
        "actions",
        {
            "name": "予約の受付",
            "steps": [
                {"type": "send_template", "template_id": template_id},
                {"type": "add_tags", "tag_ids": [tag_id]},
                {"type": "set_status", "status": status["id"]},
                {"type": "hide", "value": False},
            ],
        },
    )
    page = (await owner.get("/settings/actions", headers=HTML)).text
    assert '<html lang="ja">' in page
    japanese = gettext_for("ja").gettext  # wording the chat's ☆ menu shares
    for text in [
        "アクション",
        "予約の受付",
        "テンプレート「予約の確認」を送信",
        japanese("Add the tags %(names)s") % {"names": "VIP"},
        "対応ステータスを「対応中」にする",
        japanese("Show the customer again"),
        "アクションを追加",
        "ステップを追加",
    ]:
        assert text in page, text
    new_editor = section(page, "new-action-step-0")
    for label in [
        "テンプレートを送信",
        "テキストを送信",
        "タグを外す",
        "パーソナル情報を設定",
        "担当者を設定",
        japanese("Block the customer"),
    ]:
        assert label in new_editor, label


async def test_steps_are_added_moved_and_removed_without_script_and_nothing_is_saved(
    owner: httpx.AsyncClient,
) -> None:
    form = {"name": "はじめての方へ", "step-0-type": "send_text", "step-0-text": "ようこそ"}
    added = await owner.post(
        "/settings/actions", data={**form, "edit": "add", "new_step_type": "add_tags"}
    )
    assert added.status_code == 200 and "<html" in added.text  # the whole page, editor open
    editor = section(added.text, "settings-panel")
    assert chosen_types(editor) == ["send_text", "add_tags"]
    assert "ようこそ</textarea>" in editor and 'value="はじめての方へ"' in editor
    assert "ステップを変更しました。保存するまで反映されません。" in editor
    assert (
        'id="new-action-step-1-type" name="step-1-type" class="set-step-type" data-focus' in editor
    )

    moved = await owner.post(
        "/settings/actions",
        data={**form, "step-1-type": "block", "step-1-block": "1", "edit": "up:1"},
        headers=HTMX,
    )
    assert chosen_types(moved.text) == ["block", "send_text"]
    assert 'id="new-action-step-0-up"' in moved.text

    removed = await owner.post(
        "/settings/actions",
        data={
            "name": "はじめての方へ",
            "step-0-type": "block",
            "step-1-type": "send_text",
            "step-1-text": "ようこそ",
            "edit": "remove:0",
        },
        headers=HTMX,
    )
    assert chosen_types(removed.text) == ["send_text"]
    assert await api_items(owner, "actions") == []

    saved = await owner.post(
        "/settings/actions",
        data={"name": "はじめての方へ", "step-0-type": "send_text", "step-0-text": "ようこそ"},
        headers=HTMX,
    )
    assert saved.status_code == 200
    assert "アクション「はじめての方へ」を保存しました。" in saved.text
    action = await api_named(owner, "actions", "はじめての方へ")
    assert action["steps"] == [{"type": "send_text", "text": "ようこそ"}]


async def test_every_step_type_is_saved_with_what_it_needs_and_runs(
    owner: httpx.AsyncClient, factory: Factory
) -> None:
    template_id = await created(owner, "templates", {"name": "予約の確認", "text": "どうぞ"})
    vip = await created(owner, "tags", {"name": "VIP"})
    new = await created(owner, "tags", {"name": "新規", "folder": "ランク"})
    await created(owner, "fields", {"key": "points", "label": "ポイント", "type": "number"})
    status = await api_named(owner, "statuses", "連絡待ち")
    me = (await owner.get("/api/v1/me")).json()
    response = await owner.post(
        "/settings/actions",
        data={
            "name": "全部入り",
            "step-0-type": "send_template",
            "step-0-template_id": str(template_id),
            "step-0-text": "(not this type's)",
            "step-1-type": "send_text",
            "step-1-text": "一行目\r\n二行目",
            "step-2-type": "add_tags",
            "step-2-tag_ids": [str(vip), str(new)],
            "step-3-type": "remove_tags",
            "step-3-tag_ids": [str(new)],
            "step-4-type": "set_field",
            "step-4-key": "points",
            "step-4-value": "100",
            "step-5-type": "set_status",
            "step-5-status": str(status["id"]),
            "step-6-type": "assign",
            "step-6-member_id": str(me["id"]),
            "step-7-type": "hide",
            "step-7-hide": "1",
            "step-8-type": "block",
            "step-8-block": "0",
        },
        headers=HTMX,
    )
    assert response.status_code == 200, response.text
    action = await api_named(owner, "actions", "全部入り")
    assert action["steps"] == [
        {"type": "send_template", "template_id": template_id},
        {"type": "send_text", "text": "一行目\n二行目"},
        {"type": "add_tags", "tag_ids": [vip, new]},
        {"type": "remove_tags", "tag_ids": [new]},
        {"type": "set_field", "key": "points", "value": 100},
        {"type": "set_status", "status": status["id"]},
        {"type": "assign", "member_id": me["id"]},
        {"type": "hide", "value": True},
        {"type": "block", "value": False},
    ]
    # What was saved runs, every step, on a customer.
    ingested = await factory.inbound(await factory.channel(), contact="c-1", name="山田 花子")
    contact_id = ingested.conversation.contact_id
    ran = await owner.post(f"/api/v1/actions/{action['id']}/run", json={"contact_id": contact_id})
    assert ran.status_code == 204, ran.text
    contact = (await owner.get(f"/api/v1/contacts/{contact_id}")).json()
    assert (contact["status"]["name"], contact["hidden"], contact["blocked"]) == (
        "連絡待ち",
        True,
        False,
    )
    assert (await owner.get(f"/api/v1/contacts/{contact_id}/fields")).json() == {"points": 100}


async def test_a_refused_step_is_said_next_to_it_in_japanese_and_nothing_is_saved(
    owner: httpx.AsyncClient,
) -> None:
    response = await owner.post(
        "/settings/actions",
        data={
            "name": "タグ付け",
            "step-0-type": "send_text",
            "step-0-text": "ありがとうございます",
            "step-1-type": "add_tags",
        },
        headers=HTMX,
    )
    assert response.status_code == 422
    step = section(response.text, "new-action-step-1")
    assert 'id="error-new-action-step-1"' in step
    assert "このステップで使うタグを1つ以上選んでください。" in step
    assert "ありがとうございます</textarea>" in response.text  # the other step is kept
    assert await api_items(owner, "actions") == []

    no_template = await owner.post(
        "/settings/actions",
        data={"name": "案内", "step-0-type": "send_template", "step-0-template_id": ""},
        headers=HTMX,
    )
    assert no_template.status_code == 422
    assert "このステップで送るテンプレートを選んでください。" in section(
        no_template.text, "new-action-step-0"
    )

    await created(owner, "actions", {"name": "案内", "steps": [{"type": "hide"}]})
    taken = await owner.post(
        "/settings/actions",
        data={"name": "案内", "step-0-type": "block", "step-0-block": "1"},
        headers=HTMX,
    )
    assert taken.status_code == 409
    assert 'id="error-new-action"' in taken.text
    assert "アクション「案内」はすでにあります。" in taken.text


async def test_an_action_is_opened_in_the_editor_changed_and_deleted(
    owner: httpx.AsyncClient,
) -> None:
    tag_id = await created(owner, "tags", {"name": "VIP"})
    action_id = await created(
        owner,
        "actions",
        {"name": "VIP対応", "steps": [{"type": "add_tags", "tag_ids": [tag_id]}, {"type": "hide"}]},
    )
    opened = await owner.get(f"/settings/actions?edit={action_id}", headers=HTMX)
    assert opened.status_code == 200 and "<html" not in opened.text
    editor = section(opened.text, f"action-{action_id}")
    assert chosen_types(editor) == ["add_tags", "hide"]
    assert f'name="step-0-tag_ids" value="{tag_id}" checked' in editor
    assert 'value="VIP対応"' in editor and "アクションを保存" in editor

    saved = await owner.post(
        f"/settings/actions/{action_id}/update",
        data={
            "name": "VIPのお客様",
            "step-0-type": "hide",
            "step-0-hide": "0",
            "step-1-type": "add_tags",
            "step-1-tag_ids": [str(tag_id)],
        },
        headers=HTMX,
    )
    assert saved.status_code == 200
    assert "アクション「VIPのお客様」を保存しました。" in saved.text
    assert f'id="action-{action_id}-edit"' in saved.text  # the editor is closed again
    action = await api_named(owner, "actions", "VIPのお客様")
    assert action["steps"] == [
        {"type": "hide", "value": False},
        {"type": "add_tags", "tag_ids": [tag_id]},
    ]

    page = (await owner.get("/settings/actions", headers=HTML)).text
    assert "メンバーはこのアクションを実行できなくなります。" in page
    deleted = await owner.post(
        f"/settings/actions/{action_id}/delete", data={"name": "VIPのお客様"}, headers=HTMX
    )
    assert "アクション「VIPのお客様」を削除しました。" in deleted.text
    assert await api_items(owner, "actions") == []


async def test_agents_cannot_change_actions(client: httpx.AsyncClient, factory: Factory) -> None:
    await sign_in(client, await factory.member(role="agent"))
    page = await client.get("/settings/actions", headers=HTML)
    assert page.status_code == 403 and "このページはオーナーと管理者専用です" in page.text
    for data in (
        {"name": "勝手に", "step-0-type": "hide"},
        {"name": "勝手に", "step-0-type": "hide", "edit": "add"},
    ):
        refused = await client.post("/settings/actions", data=data, headers=HTMX)
        assert refused.status_code == 403
    assert await api_items(client, "actions") == []
