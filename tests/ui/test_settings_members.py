"""メンバー, 操作履歴 and 問い合わせタグ in the settings: an owner adds staff with a first password
shown once, only an owner adds an owner, the audit log lists permanent deletes in Japan time, and
conversation tags are added and deleted."""

from __future__ import annotations

import re

import httpx
import pytest

from madoguchi.kit.errors import Unauthorized
from madoguchi.members import service as members
from tests.fixtures import PASSWORD, Factory
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
    [entry] = [e for e in entries if e["kind"] == "conversation.deleted"]
    page = (await owner.get("/settings/audit", headers=HTML)).text
    assert "店長" in page and "が問い合わせを永久削除しました" in page
    assert "お客様: 山田 花子・メッセージ1件" in page
    assert 'href="/settings/audit" class="settings-nav-link" aria-current="page"' in page
    assert re.search(
        r'<time class="set-audit-at" datetime="[^"]+">\d{4}/\d{1,2}/\d{1,2} \d{2}:\d{2}</time>',
        page,
    )
    assert entry["actor"]["name"] == "店長"
    assert entry["subject"] == {
        "type": "conversation",
        "id": ingested.conversation.id,
        "name": "山田 花子",
    }


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


# --- managing members, passwords and tokens ---------------------------------------------------


async def test_an_owner_changes_a_role_and_deactivates_and_reactivates_a_member(
    owner: httpx.AsyncClient, factory: Factory
) -> None:
    agent = await factory.member(role="agent", name="美咲")
    changed = await owner.post(
        f"/settings/members/{agent.id}/update",
        data={"name": "佐藤 美咲", "role": "admin"},
        headers=HTMX,
    )
    assert changed.status_code == 200
    assert "保存しました" in section(changed.text, f"member-{agent.id}")
    person = await api_named(owner, "members", agent.email, key="email")
    assert (person["name"], person["role"]) == ("佐藤 美咲", "admin")

    off = await owner.post(
        f"/settings/members/{agent.id}/active",
        data={"active": "0", "name": "佐藤 美咲"},
        headers=HTMX,
    )
    row = section(off.text, f"member-{agent.id}")
    assert "佐藤 美咲さんはログインできなくなり、すべての端末でログアウトされました。" in row
    assert "ログイン不可" in row and "利用を再開する" in row
    assert (await api_named(owner, "members", agent.email, key="email"))["active"] is False

    on = await owner.post(
        f"/settings/members/{agent.id}/active", data={"active": "1", "name": "佐藤 美咲"}
    )
    assert on.status_code == 303  # without script: post/redirect/get
    assert (await api_named(owner, "members", agent.email, key="email"))["active"] is True

    audit = (await owner.get("/settings/audit", headers=HTML)).text
    for line in [
        "美咲さんの名前を佐藤 美咲さんに変更しました",
        "佐藤 美咲さんの役割を変更しました",
        "スタッフ → 管理者",
        "メンバー「佐藤 美咲」を利用停止にしました",
        "メンバー「佐藤 美咲」の利用を再開しました",
    ]:
        assert line in audit, line


async def test_the_last_owner_is_told_why_they_cannot_step_down(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    me = await factory.member(role="owner", name="店長")
    await sign_in(client, me)
    refused = await client.post(
        f"/settings/members/{me.id}/update", data={"name": "店長", "role": "admin"}, headers=HTMX
    )
    assert refused.status_code == 409
    assert "オーナーが一人もいなくなります" in section(refused.text, f"member-{me.id}")
    off = await client.post(
        f"/settings/members/{me.id}/active", data={"active": "0", "name": "店長"}, headers=HTMX
    )
    assert off.status_code == 409


async def test_an_admin_is_offered_no_changes_to_an_owner(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    boss = await factory.member(role="owner", name="オーナー")
    agent = await factory.member(role="agent", name="美咲")
    await sign_in(client, await factory.member(role="admin", name="管理"))
    page = (await client.get("/settings/members", headers=HTML)).text
    assert f"/settings/members/{boss.id}/update" not in page
    assert f"/settings/members/{agent.id}/update" in page
    assert 'value="owner"' not in section(page, f"member-{agent.id}")
    refused = await client.post(
        f"/settings/members/{boss.id}/password-reset", data={"name": "オーナー"}, headers=HTMX
    )
    assert refused.status_code == 403
    assert "オーナーの役割や利用状態を変更できるのはオーナーだけです。" in refused.text


async def test_a_reset_password_is_shown_once_and_must_be_changed_at_the_next_sign_in(
    owner: httpx.AsyncClient, factory: Factory, client: httpx.AsyncClient
) -> None:
    agent = await factory.member(role="agent", name="美咲")
    reset = await owner.post(
        f"/settings/members/{agent.id}/password-reset", data={"name": "美咲"}, headers=HTMX
    )
    assert reset.status_code == 200
    assert reset.headers["cache-control"] == "no-store"
    row = section(reset.text, f"member-{agent.id}")
    assert "美咲さんの仮パスワード" in row and "表示されるのは今だけです" in row
    match = re.search(r'id="member-\d+-password" type="text" value="([^"]+)"', row)
    assert match is not None
    one_time = match.group(1)
    page = (await owner.get("/settings/members", headers=HTML)).text
    assert one_time not in page
    assert "次回ログイン時に新しいパスワードを決めます" in section(page, f"member-{agent.id}")

    # The member signs in with it: every page leads to the form until they choose their own.
    owner.cookies.clear()
    signed_in = await owner.post(
        "/login", data={"email": agent.email, "password": one_time, "next": "/"}
    )
    assert signed_in.status_code == 303
    inbox = await owner.get("/", headers=HTML)
    assert inbox.status_code == 303 and inbox.headers["location"] == "/settings/password"
    fragment = await owner.get("/settings", headers=HTMX)
    assert fragment.headers["hx-redirect"] == "/settings/password"
    form = await owner.get("/settings/password", headers=HTML)
    assert form.status_code == 200
    assert "オーナーまたは管理者があなたのパスワードをリセットしました" in form.text
    assert "仮パスワード" in form.text

    mismatch = await owner.post(
        "/settings/password",
        data={"current": one_time, "new": "my own phrase", "again": "my own phrasE"},
    )
    assert mismatch.status_code == 422
    assert "新しいパスワードが一致しません" in mismatch.text
    wrong = await owner.post(
        "/settings/password",
        data={"current": "not it", "new": "my own phrase", "again": "my own phrase"},
    )
    assert wrong.status_code == 422 and "現在のパスワードが違います。" in wrong.text
    done = await owner.post(
        "/settings/password",
        data={"current": one_time, "new": "my own phrase", "again": "my own phrase"},
    )
    assert done.status_code == 303 and done.headers["location"] == "/"
    assert (await owner.get("/", headers=HTML)).status_code == 200


def _links(html: str) -> set[str]:
    return set(re.findall(r'<a [^>]*href="([^"]+)"', html))


async def test_an_agent_finds_their_password_and_tokens_from_the_settings_page(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    agent = await factory.member(role="agent", name="美咲")
    await sign_in(client, agent)
    page = await client.get("/settings", headers=HTML)
    assert page.status_code == 200
    # An agent has no menu: the account card is their way there.
    assert 'class="settings-nav"' not in page.text
    account = section(page.text, "account")
    assert "アカウント" in account
    assert {"/settings/password", "/settings/tokens"} <= _links(account)
    for path in ("/settings/password", "/settings/tokens"):
        opened = await client.get(path, headers=HTML)
        assert opened.status_code == 200, path


async def test_owners_and_admins_have_their_password_and_tokens_in_the_menu(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    for role in ("owner", "admin"):
        client.cookies.clear()
        await sign_in(client, await factory.member(role=role))
        page = (await client.get("/settings", headers=HTML)).text
        assert {"/settings/password", "/settings/tokens"} <= _links(section(page, "account"))
        start = page.index('class="settings-nav"')
        menu = page[start : page.index("</nav>", start)]
        assert {"/settings/password", "/settings/tokens"} <= _links(menu)
        tokens = (await client.get("/settings/tokens", headers=HTML)).text
        assert re.search(r'href="/settings/tokens"[^>]*aria-current="page"', tokens)


async def test_a_member_changes_their_own_password_from_the_settings(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    agent = await factory.member(role="agent", name="美咲")
    await sign_in(client, agent)
    page = await client.get("/settings/password", headers=HTML)
    assert "パスワードの変更" in page.text and "現在のパスワード" in page.text
    done = await client.post(
        "/settings/password",
        data={"current": PASSWORD, "new": "a phrase of mine", "again": "a phrase of mine"},
    )
    assert done.status_code == 303
    saved = await client.get(done.headers["location"], headers=HTML)
    assert "パスワードを変更しました" in saved.text
    client.cookies.clear()
    signed_in = await client.post(
        "/api/v1/auth/login", json={"email": agent.email, "password": "a phrase of mine"}
    )
    assert signed_in.status_code == 200


async def test_an_agent_makes_and_revokes_their_own_tokens_and_sees_no_one_elses(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    other = await factory.member(role="agent", name="健")
    await factory.token(other)
    agent = await factory.member(role="agent", name="美咲")
    await sign_in(client, agent)
    page = (await client.get("/settings/tokens", headers=HTML)).text
    assert "APIトークン" in page and "トークンはありません" in page
    assert "健" not in page

    made = await client.post("/settings/tokens", data={"name": "予約システム"}, headers=HTMX)
    assert made.status_code == 200 and made.headers["cache-control"] == "no-store"
    match = re.search(r'id="token-(\d+)-secret" type="text" value="(mdg_[^"]+)"', made.text)
    assert match is not None
    token_id, secret = match.group(1), match.group(2)
    assert "表示されるのは今だけです" in made.text
    me = await client.get("/api/v1/me", headers={"Authorization": f"Bearer {secret}"})
    assert me.status_code == 200
    listed = (await client.get("/settings/tokens", headers=HTML)).text
    assert secret not in listed and "予約システム" in listed and "最終利用" in listed

    unnamed = await client.post("/settings/tokens", data={"name": " "}, headers=HTMX)
    assert unnamed.status_code == 422 and "名前を付けてください" in unnamed.text

    revoked = await client.post(
        f"/settings/tokens/{token_id}/revoke", data={"name": "予約システム"}, headers=HTMX
    )
    assert "トークン「予約システム」を無効にしました" in revoked.text
    me = await client.get("/api/v1/me", headers={"Authorization": f"Bearer {secret}"})
    assert me.status_code == 401


async def test_an_owner_sees_and_revokes_everyones_tokens(
    owner: httpx.AsyncClient, factory: Factory
) -> None:
    agent = await factory.member(role="agent", name="美咲")
    secret = await factory.token(agent)
    page = (await owner.get("/settings/tokens", headers=HTML)).text
    others = section(page, "other-tokens-title")
    assert "ほかのメンバーのトークン" in others
    [token_id] = re.findall(r'action="/settings/tokens/(\d+)/revoke"', page)
    assert "美咲" in section(page, f"token-{token_id}")
    revoked = await owner.post(f"/settings/tokens/{token_id}/revoke", data={"name": ""})
    assert revoked.status_code == 303
    me = await owner.get("/api/v1/me", headers={"Authorization": f"Bearer {secret}"})
    assert me.status_code == 401
