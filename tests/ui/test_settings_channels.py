"""チャネル in the settings: an owner connects LINE, Instagram, e-mail, the web chat and the API
from the page; secrets go in and never come back out; a channel can be turned off."""

from __future__ import annotations

import httpx
import pytest
from markupsafe import escape

from madoguchi.channels import service as channels
from madoguchi.kit.i18n import gettext_for
from tests.fixtures import Factory
from tests.ui.conftest import HTML, HTMX, sign_in
from tests.ui.settings_support import api_items, input_names, section, stored_channel

SETTINGS_PAGES = [
    "/settings",
    "/settings/channels",
    "/settings/templates",
    "/settings/actions",
    "/settings/conversation-tags",
    "/settings/members",
    "/settings/audit",
]
SECRET = "line-secret-5f2a9c"
TOKEN = "line-token-Q8zL2"


@pytest.fixture
async def owner(client: httpx.AsyncClient, factory: Factory) -> httpx.AsyncClient:
    await sign_in(client, await factory.member(role="owner", name="店長"))
    return client


async def test_the_page_lists_the_channels_with_what_each_needs_in_japanese(
    owner: httpx.AsyncClient, factory: Factory
) -> None:
    line = await channels.create_channel(
        factory.ctx, kind="line", name="公式LINE", settings={"channel_secret": SECRET}
    )
    page = (await owner.get("/settings/channels", headers=HTML)).text
    assert '<html lang="ja">' in page
    for text in ["チャネル", "公式LINE", "有効", "未設定: チャネルアクセストークン", "接続の手順"]:
        assert text in page, text
    # The webhook URL to paste, with a copy button, and LINE's console steps in Japanese.
    assert f'value="http://127.0.0.1:8000/webhooks/line/{line.id}"' in page
    assert "data-copy=" in page and "コピーしました" in page
    assert "「Webhookの利用」をオンにして「検証」を押します" in page
    # Served on plain http here: the page says LINE cannot reach it.
    assert "MADOGUCHI_BASE_URL" in page
    assert SECRET not in page
    assert 'href="/settings/channels" class="settings-nav-link" aria-current="page"' in page


async def test_each_kind_is_added_with_exactly_its_own_settings(owner: httpx.AsyncClient) -> None:
    page = (await owner.get("/settings/channels", headers=HTML)).text
    expected = {
        "line": {"channel_secret", "access_token"},
        "instagram": {"app_secret", "verify_token", "access_token"},
        "email": {"address", "smtp_host", "smtp_port", "smtp_username", "smtp_password"},
        "web": {"allowed_origins", "identity_secret"},
        "api": set(),
    }
    for kind, keys in expected.items():
        form = section(page, f"new-channel-{kind}")
        assert input_names(form) == {"kind", "name"} | keys, kind
        # Secrets are typed into password inputs, never filled in.
        for key in keys & channels.SECRET_KEYS:
            assert f'name="{key}" type="password" value=""' in form
    assert "api_base" not in page


async def test_a_new_line_channel_keeps_its_secrets_and_shows_its_webhook_url(
    owner: httpx.AsyncClient, factory: Factory
) -> None:
    response = await owner.post(
        "/settings/channels",
        data={"kind": "line", "name": "公式LINE", "channel_secret": SECRET, "access_token": TOKEN},
        headers=HTMX,
    )
    assert response.status_code == 200
    assert "<html" not in response.text
    assert "チャネル「公式LINE」を追加しました。Webhook URL をコンソールに貼り付けてください。" in (
        response.text
    )
    [channel] = await api_items(owner, "channels")
    assert channel["settings"] == {"channel_secret": "********", "access_token": "********"}
    assert f"/webhooks/line/{channel['id']}" in response.text
    assert SECRET not in response.text and TOKEN not in response.text
    stored = await stored_channel(factory.ctx, channel["id"])
    assert stored["settings"] == {"channel_secret": SECRET, "access_token": TOKEN}
    # Nowhere else either: no settings page, no API answer.
    for path in [*SETTINGS_PAGES, "/api/v1/channels"]:
        shown = (await owner.get(path, headers=HTML)).text
        assert SECRET not in shown and TOKEN not in shown, path


async def test_the_mask_keeps_a_secret_and_an_emptied_box_removes_it(
    owner: httpx.AsyncClient, factory: Factory
) -> None:
    channel = await channels.create_channel(
        factory.ctx,
        kind="instagram",
        name="Instagram",
        settings={"app_secret": "app-9", "verify_token": "verify-Zq7", "access_token": "ig-token"},
    )
    page = (await owner.get("/settings/channels", headers=HTML)).text
    edit = section(page, f"channel-{channel.id}")
    assert 'name="app_secret" type="password" value="********"' in edit
    for secret in ("app-9", "verify-Zq7", "ig-token"):
        assert secret not in page

    response = await owner.post(
        f"/settings/channels/{channel.id}/update",
        data={
            "kind": "instagram",
            "name": "Instagram @salon",
            "app_secret": "********",
            "verify_token": "verify-new-4",
            "access_token": "",
        },
        headers=HTMX,
    )
    assert response.status_code == 200 and "保存しました" in response.text
    assert "verify-new-4" not in response.text
    stored = await stored_channel(factory.ctx, channel.id)
    assert stored["name"] == "Instagram @salon"
    assert stored["settings"] == {"app_secret": "app-9", "verify_token": "verify-new-4"}
    assert "未設定: アクセストークン" in response.text


async def test_the_web_chat_shows_its_tag_and_how_a_site_vouches_for_a_customer(
    owner: httpx.AsyncClient, factory: Factory
) -> None:
    await owner.post(
        "/settings/channels",
        data={
            "kind": "web",
            "name": "Webチャット",
            "allowed_origins": "https://salon.example.jp\r\nhttps://www.salon.example.jp/\r\n",
            "identity_secret": "hmac-key-77",
        },
        headers=HTMX,
    )
    [channel] = await api_items(owner, "channels")
    stored = await stored_channel(factory.ctx, channel["id"])
    assert stored["settings"] == {
        "allowed_origins": "https://salon.example.jp https://www.salon.example.jp/",
        "identity_secret": "hmac-key-77",
    }
    page = (await owner.get("/settings/channels", headers=HTML)).text
    card = section(page, f"channel-{channel['id']}")
    snippet = f"&lt;script src=&#34;http://127.0.0.1:8000/widget/{channel['id']}.js&#34; async&gt;"
    assert snippet in card
    assert "HMAC-SHA256" in card and "window.madoguchiSettings" in card
    assert "https://salon.example.jp\nhttps://www.salon.example.jp/" in card  # one a line
    assert "hmac-key-77" not in page


async def test_a_refused_channel_is_said_in_japanese_next_to_its_form_without_secrets(
    owner: httpx.AsyncClient,
) -> None:
    response = await owner.post(
        "/settings/channels",
        data={
            "kind": "email",
            "name": "メール",
            "address": "info@salon.example.jp",
            "smtp_host": "smtp.example.jp",
            "smtp_port": "五八七",
            "smtp_password": "mail-pass-3",
        },
        headers=HTMX,
    )
    assert response.status_code == 422
    form = section(response.text, "new-channel-email")
    assert 'id="error-new-channel-email"' in form
    assert "smtp_port は数字で指定してください。" in form
    assert 'value="info@salon.example.jp"' in form  # what was typed comes back…
    assert "mail-pass-3" not in response.text  # …except the secret
    assert "もう一度入力してください" in form
    assert await api_items(owner, "channels") == []


async def test_turning_a_channel_off_says_what_happens_and_refuses_its_webhooks(
    owner: httpx.AsyncClient, factory: Factory
) -> None:
    channel_id = (
        await channels.create_channel(
            factory.ctx, kind="line", name="公式LINE", settings={"channel_secret": SECRET}
        )
    ).id
    page = (await owner.get("/settings/channels", headers=HTML)).text
    assert "無効の間は Webhook を受け付けず" in page and "「送信失敗」になります" in page

    off = await owner.post(
        f"/settings/channels/{channel_id}/enabled",
        data={"enabled": "0", "name": "公式LINE"},
        headers=HTMX,
    )
    assert off.status_code == 200
    assert "「公式LINE」を無効にしました。" in off.text
    assert "無効: Webhook を受け付けず、返信もお客様に届きません。" in off.text
    assert (await stored_channel(factory.ctx, channel_id))["enabled"] is False
    refused = await owner.post(f"/webhooks/line/{channel_id}", content=b"{}")
    assert refused.status_code == 404

    on = await owner.post(
        f"/settings/channels/{channel_id}/enabled", data={"enabled": "1", "name": "公式LINE"}
    )
    assert on.status_code == 303  # without script: back to the page
    assert (await stored_channel(factory.ctx, channel_id))["enabled"] is True


async def test_agents_cannot_see_or_change_the_channels(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    channel_id = (await channels.create_channel(factory.ctx, kind="api", name="予約システム")).id
    await sign_in(client, await factory.member(role="agent"))
    page = await client.get("/settings/channels", headers=HTML)
    assert page.status_code == 403 and "このページはオーナーと管理者専用です" in page.text
    refused = await client.post(
        f"/settings/channels/{channel_id}/enabled", data={"enabled": "0"}, headers=HTMX
    )
    assert refused.status_code == 403
    added = await client.post("/settings/channels", data={"kind": "api", "name": "勝手に"})
    assert added.status_code == 403
    assert [c["name"] for c in await api_items(client, "channels")] == ["予約システム"]
    assert (await stored_channel(factory.ctx, channel_id))["enabled"] is True


async def test_a_deleted_channel_leaves_the_list_and_its_conversations_stay_readable(
    owner: httpx.AsyncClient, factory: Factory
) -> None:
    channel = await factory.channel(name="予約システム")
    inbound = await factory.inbound(channel, text="予約できますか")
    page = (await owner.get("/settings/channels", headers=HTML)).text
    card = section(page, f"channel-{channel.id}")
    assert "「予約システム」を削除しますか？" in card
    assert "会話は受信箱に残り" in card

    deleted = await owner.post(
        f"/settings/channels/{channel.id}/delete", data={"name": "予約システム"}, headers=HTMX
    )
    assert deleted.status_code == 200
    assert "チャネル「予約システム」を削除しました" in deleted.text
    assert f'id="channel-{channel.id}"' not in deleted.text
    gone = section(deleted.text, f"removed-channel-{channel.id}")
    assert "予約システム" in gone and "削除" in gone
    assert [c["id"] for c in await api_items(owner, "channels")] == []

    messages = await api_items(owner, f"conversations/{inbound.conversation.id}/messages")
    assert [m["text"] for m in messages] == ["予約できますか"]
    again = await owner.post(
        f"/settings/channels/{channel.id}/delete", data={"name": "予約システム"}, headers=HTMX
    )
    assert again.status_code == 404


async def test_a_deleted_channels_conversation_is_marked_in_the_header_and_the_list(
    owner: httpx.AsyncClient, factory: Factory
) -> None:
    channel = await factory.channel(name="予約システム")
    inbound = await factory.inbound(channel, text="予約できますか")
    page = f"/c/{inbound.conversation.id}"

    def header(html: str) -> str:
        return section(html, "thread-header")

    def row(html: str) -> str:
        return section(html, f"row-{inbound.conversation.id}")

    before = (await owner.get(page, headers=HTML)).text
    assert "削除したチャネル" not in header(before) and "削除したチャネル" not in row(before)

    deleted = await owner.delete(f"/api/v1/channels/{channel.id}")
    assert deleted.status_code == 204
    after = (await owner.get(page, headers=HTML)).text
    # Next to the channel's name, which stays: the conversation is the same one.
    channel_line = section(header(after), "thread-header").split('class="thread-channel"')[1]
    assert "予約システム" in channel_line and "削除したチャネル" in channel_line
    assert "削除したチャネル" in row(after)
    # The composer says why only notes can be written (not Instagram's 24 hours).
    assert "この会話のチャネルは削除されているため、返信は送れません。" in after
    assert "Instagramでは" not in after
    # The header alone, as htmx refreshes it after an action.
    fragment = await owner.get(f"/ui/conversations/{inbound.conversation.id}/header")
    assert fragment.status_code == 200 and "削除したチャネル" in fragment.text


async def test_each_kind_form_shows_its_own_steps_and_name_example(
    owner: httpx.AsyncClient, factory: Factory
) -> None:
    ja = gettext_for("ja").gettext
    api = await channels.create_channel(factory.ctx, kind="api", name="予約システム")
    page = (await owner.get("/settings/channels", headers=HTML)).text
    expected = {
        "line": ("Paste both here and save.", "e.g. 公式LINE"),
        "instagram": (
            "Make the Instagram account a professional account (business or creator).",
            "e.g. ルミエール",
        ),
        "email": (
            "Point the address's MX record (or your mail server's forwarding) at this server.",
            "e.g. ルミエール",
        ),
        "web": ("Enter the sites allowed to show the chat, and save.", "e.g. ルミエール"),
        "api": ("Add the channel here: its ID is %(id)s.", "e.g. 予約システム"),
    }
    for kind, (step, example) in expected.items():
        form = section(page, f"new-channel-{kind}")
        assert escape(ja(step) % {"id": "{ID}"}) in form, kind
        assert f'placeholder="{escape(ja(example))}"' in form, kind
        others = [ja(s) for k, (s, _e) in expected.items() if k not in (kind, "api")]
        assert not any(escape(other) in form for other in others), kind
    # A channel's own steps name its id.
    shown = section(page, f"channel-{api.id}")
    assert escape(ja("Add the channel here: its ID is %(id)s.") % {"id": api.id}) in shown
