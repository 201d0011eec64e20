from __future__ import annotations

import httpx

from tests.fixtures import Factory
from tests.ui.conftest import HTML, sign_in


async def test_settings_save_the_send_shortcut_and_say_so(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    await sign_in(client, await factory.member())
    page = await client.get("/settings", headers=HTML)
    assert page.status_code == 200
    assert "送信ショートカット" in page.text and "Enter で送信" in page.text
    assert "保存しました" not in page.text

    response = await client.post("/settings", data={"send_shortcut": "mod_enter", "language": "ja"})
    assert response.status_code == 303
    saved = await client.get(response.headers["location"], headers=HTML)
    assert "保存しました" in saved.text
    assert 'value="mod_enter" checked' in saved.text
    me = (await client.get("/api/v1/me")).json()
    assert me["send_shortcut"] == "mod_enter"
    # The composer follows the setting.
    inbox = await client.get("/", headers=HTML)
    assert inbox.status_code == 200


async def test_the_composer_follows_the_send_shortcut(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    member = await factory.member()
    channel = await factory.channel()
    ingested = await factory.inbound(channel)
    await sign_in(client, member)
    await client.post("/settings", data={"send_shortcut": "mod_enter"})
    page = (await client.get(f"/c/{ingested.conversation.id}", headers=HTML)).text
    assert 'data-send-shortcut="mod_enter"' in page
    assert "Ctrl(⌘)+Enterで送信・Enterで改行" in page


async def test_choosing_english_turns_the_pages_english(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    await sign_in(client, await factory.member())
    response = await client.post("/settings", data={"send_shortcut": "enter", "language": "en"})
    saved = await client.get(response.headers["location"], headers=HTML)
    assert '<html lang="en">' in saved.text
    assert "Saved." in saved.text and "Send shortcut" in saved.text


async def test_a_value_the_service_refuses_is_shown_and_nothing_changes(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    await sign_in(client, await factory.member())
    response = await client.post("/settings", data={"send_shortcut": "mod_enter", "language": "fr"})
    assert response.status_code == 422
    assert "言語は ja か en を指定してください。" in response.text
    me = (await client.get("/api/v1/me")).json()
    assert me["send_shortcut"] == "enter" and me["language"] == "ja"


async def test_browser_notifications_are_chosen_on_the_personal_page(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    await sign_in(client, await factory.member())
    page = (await client.get("/settings", headers=HTML)).text
    for text in ["ブラウザ通知", "自分が担当する会話", "メンションされたとき"]:
        assert text in page, text
    assert 'name="notify_assigned" value="1" checked' in page

    # Unticking one: the form says its choices were on it, so an unticked box means off.
    response = await client.post(
        "/settings",
        data={
            "send_shortcut": "enter",
            "language": "ja",
            "notifications": "1",
            "notify_mentions": "1",
        },
    )
    assert response.status_code == 303
    me = (await client.get("/api/v1/me")).json()
    assert (me["notify_assigned"], me["notify_mentions"]) == (False, True)
    saved = (await client.get(response.headers["location"], headers=HTML)).text
    assert 'name="notify_assigned" value="1" checked' not in saved
    assert 'name="notify_mentions" value="1" checked' in saved

    # A form without the choices (an older page) leaves them as they are.
    await client.post("/settings", data={"send_shortcut": "mod_enter"})
    me = (await client.get("/api/v1/me")).json()
    assert (me["notify_assigned"], me["notify_mentions"], me["send_shortcut"]) == (
        False,
        True,
        "mod_enter",
    )
