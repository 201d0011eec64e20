"""メンバー, 操作履歴 and 問い合わせタグ in the settings: an owner adds staff with a first password
shown once, only an owner adds an owner, the audit log lists permanent deletes in Japan time, and
conversation tags are added and deleted."""

from __future__ import annotations

import re

import httpx
import pytest

from madoguchi.kit.errors import Unauthorized
from madoguchi.members import service as members
from tests.fixtures import Factory
from tests.ui.conftest import HTML, HTMX, sign_in
from tests.ui.settings_support import api_items, api_named, section


@pytest.fixture
async def owner(client: httpx.AsyncClient, factory: Factory) -> httpx.AsyncClient:
    await sign_in(client, await factory.member(role="owner", name="店長"))
    return client


# --- メンバー -----------------------------------------------------------------------------------


async def test_the_members_page_lists_everyone_with_their_role_and_what_each_role_may_do(
    owner: httpx.AsyncClient, factory: Factory
) -> None:
    await factory.member(role="agent", name="美咲")
    page = (await owner.get("/settings/members", headers=HTML)).text
    assert '<html lang="ja">' in page
    for text in [
        "メンバー（2人）",
        "店長",
        "美咲",
        "スタッフ",
        "すべてを変更でき、オーナーを追加できるのもオーナーだけです。",
        "ワークスペースの設定を変更し、管理者とスタッフを追加できます。",
        "受信箱でお客様に対応します。変更できるのは自分の個人設定だけです。",
        "メンバーを追加",
    ]:
        assert text in page, text
    assert page.count('class="set-you"') == 1  # beside the one signed in


async def test_a_member_added_with_a_made_password_sees_it_once_and_can_sign_in_with_it(
    owner: httpx.AsyncClient, factory: Factory
) -> None:
    response = await owner.post(
        "/settings/members",
        data={"name": "鈴木 彩", "email": "Aya@Salon.example.jp", "role": "agent"},
        headers=HTMX,
    )
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    assert "鈴木 彩さんを追加しました。" in response.text
    added = await api_named(owner, "members", "aya@salon.example.jp", key="email")
    assert added["role"] == "agent"
    shown = section(response.text, f"member-{added['id']}")
    assert "鈴木 彩さんの初期パスワード" in shown and "表示されるのは今だけです" in shown
    match = re.search(r'id="member-\d+-password" type="text" value="([^"]+)"', shown)
    assert match is not None
    member = await members.authenticate(
        factory.ctx, email="aya@salon.example.jp", password=match.group(1), address="test"
    )
    assert member.name == "鈴木 彩"

    # Shown once: the page does not show it again.
    assert match.group(1) not in (await owner.get("/settings/members", headers=HTML)).text


async def test_a_typed_first_password_works_and_is_not_shown(
    owner: httpx.AsyncClient, factory: Factory
) -> None:
    response = await owner.post(
        "/settings/members",
        data={
            "name": "佐藤",
            "email": "sato@salon.example.jp",
            "role": "admin",
            "password_choice": "typed",
            "password": "kimeta-pass-1",
        },
    )
    assert response.status_code == 200
    assert "kimeta-pass-1" not in response.text
    assert (await api_named(owner, "members", "佐藤"))["role"] == "admin"
    member = await members.authenticate(
        factory.ctx, email="sato@salon.example.jp", password="kimeta-pass-1", address="test"
    )
    assert member.role == "admin"


async def test_a_refused_member_is_said_in_japanese_and_the_password_is_not_given_back(
    owner: httpx.AsyncClient, factory: Factory
) -> None:
    short = await owner.post(
        "/settings/members",
        data={
            "name": "短い",
            "email": "short@example.jp",
            "password_choice": "typed",
            "password": "abc",
        },
        headers=HTMX,
    )
    assert short.status_code == 422
    assert 'id="error-new-member"' in short.text
    assert "パスワード" in section(short.text, "error-new-member")
    assert 'value="short@example.jp"' in short.text and 'value="abc"' not in short.text

    taken = await owner.post(
        "/settings/members",
        data={"name": "もう一人", "email": "short@example.jp"},
        headers=HTMX,
    )
    assert taken.status_code == 200  # the first one was refused: this address is free
    again = await owner.post(
        "/settings/members", data={"name": "同じ人", "email": "short@example.jp"}, headers=HTMX
    )
    assert again.status_code == 409
    assert "メールアドレス short@example.jp のメンバーはすでに登録されています。" in again.text
    with pytest.raises(Unauthorized):
        await members.authenticate(
            factory.ctx, email="short@example.jp", password="abc", address="x"
        )


async def test_only_an_owner_adds_an_owner(client: httpx.AsyncClient, factory: Factory) -> None:
    await sign_in(client, await factory.member(role="admin", name="管理者"))
    page = (await client.get("/settings/members", headers=HTML)).text
    assert 'name="role" value="owner"' not in page
    assert "オーナーを追加できるのはオーナーだけです。" in page
    refused = await client.post(
        "/settings/members",
        data={"name": "新オーナー", "email": "boss@example.jp", "role": "owner"},
        headers=HTMX,
    )
    assert refused.status_code == 403
    assert "あなたの権限ではこのメンバーを追加できません。" in refused.text
    assert "boss@example.jp" not in [m["email"] for m in await api_items(client, "members")]

    admin_adds_agent = await client.post(
        "/settings/members",
        data={"name": "スタッフ", "email": "staff@example.jp", "role": "agent"},
        headers=HTMX,
    )
    assert admin_adds_agent.status_code == 200


async def test_agents_cannot_see_the_team_pages_or_add_members(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    await sign_in(client, await factory.member(role="agent"))
    for path in ("/settings/members", "/settings/audit", "/settings/conversation-tags"):
        page = await client.get(path, headers=HTML)
        assert page.status_code == 403, path
        assert "このページはオーナーと管理者専用です" in page.text
    refused = await client.post(
        "/settings/members", data={"name": "勝手に", "email": "x@example.jp"}, headers=HTMX
    )
    assert refused.status_code == 403
    assert "x@example.jp" not in [m["email"] for m in await api_items(client, "members")]


# --- 操作履歴 -----------------------------------------------------------------------------------


async def test_the_audit_log_says_who_deleted_which_conversation_and_when_in_japan_time(
    owner: httpx.AsyncClient, factory: Factory
) -> None:
    before = (await owner.get("/settings/audit", headers=HTML)).text
    assert "メンバー「店長」を追加しました" in before  # the owner, added by the command line
    ingested = await factory.inbound(await factory.channel(), contact="c-1", name="山田 花子")
    deleted = await owner.delete(f"/api/v1/conversations/{ingested.conversation.id}")
    assert deleted.status_code == 204
    entries = (await owner.get("/api/v1/audit")).json()["items"]
    [entry] = [e for e in entries if e["action"] == "conversation.deleted"]
    page = (await owner.get("/settings/audit", headers=HTML)).text
    assert "店長" in page and "が問い合わせを永久削除しました" in page
    assert "お客様: 山田 花子・メッセージ1件" in page
    assert 'href="/settings/audit" class="settings-nav-link" aria-current="page"' in page
    assert re.search(
        r'<time class="set-audit-at" datetime="[^"]+">\d{4}/\d{1,2}/\d{1,2} \d{2}:\d{2}</time>',
        page,
    )
    assert entry["action"] == "conversation.deleted"


# --- 問い合わせタグ -----------------------------------------------------------------------------


async def test_conversation_tags_are_added_and_deleted_saying_what_deleting_does(
    owner: httpx.AsyncClient,
) -> None:
    page = (await owner.get("/settings/conversation-tags", headers=HTML)).text
    assert "問い合わせタグはまだありません。" in page
    added = await owner.post(
        "/settings/conversation-tags", data={"name": "予約", "color": "#16a34a"}, headers=HTMX
    )
    assert added.status_code == 200
    assert "問い合わせタグ「予約」を追加しました。" in added.text
    tag = await api_named(owner, "conversation-tags", "予約")
    assert tag["color"] == "#16a34a"

    again = await owner.post("/settings/conversation-tags", data={"name": "予約"}, headers=HTMX)
    assert again.status_code == 409
    assert 'id="error-new-conversation-tag"' in again.text
    assert "問い合わせタグ「予約」はすでにあります。" in again.text

    page = (await owner.get("/settings/conversation-tags", headers=HTML)).text
    assert "このタグが付いた問い合わせ（0件）から外れ" in page
    deleted = await owner.post(
        f"/settings/conversation-tags/{tag['id']}/delete", data={"name": "予約"}, headers=HTMX
    )
    assert "問い合わせタグ「予約」を削除しました。" in deleted.text
    assert await api_items(owner, "conversation-tags") == []
