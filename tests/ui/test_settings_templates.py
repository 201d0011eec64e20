"""テンプレート in the settings: texts with placeholders and up to three images, in folders,
made and changed from the page (a multipart form) and read back through the JSON API."""

from __future__ import annotations

import io
import re

import httpx
import pytest
from PIL import Image

from tests.fixtures import Factory
from tests.ui.conftest import HTML, HTMX, sign_in
from tests.ui.settings_support import api_items, api_named, section


@pytest.fixture
async def owner(client: httpx.AsyncClient, factory: Factory) -> httpx.AsyncClient:
    await sign_in(client, await factory.member(role="owner", name="店長"))
    return client


def png(colour: str = "red") -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (24, 16), colour).save(buffer, format="PNG")
    return buffer.getvalue()


def kept_image_ids(html: str) -> list[int]:
    return [int(i) for i in re.findall(r'name="image_ids" value="(\d+)"', html)]


async def test_the_page_renders_in_japanese_with_the_placeholders_explained(
    owner: httpx.AsyncClient,
) -> None:
    await owner.post(
        "/api/v1/templates",
        json={
            "name": "営業時間のご案内",
            "text": "{name}様、営業時間は10時からです。",
            "folder": "ご案内",
        },
    )
    page = (await owner.get("/settings/templates", headers=HTML)).text
    assert '<html lang="ja">' in page
    for text in [
        "テンプレート",
        "ご案内",
        "営業時間のご案内",
        "{name}様、営業時間は10時からです。",
        "お客様の表示名",
        "最新のカルテ記録（来店）からの日数",
        "画像（3枚まで）",
        "/ 1,000",
        "テンプレートを追加",
    ]:
        assert text in page, text
    assert 'href="/settings/templates" class="settings-nav-link" aria-current="page"' in page


async def test_a_template_is_added_in_a_folder_with_its_images_as_thumbnails(
    owner: httpx.AsyncClient,
) -> None:
    response = await owner.post(
        "/settings/templates",
        data={
            "name": "予約の確認",
            "folder": "予約",
            "text": "{name}様\r\nご予約ありがとうございます。",
        },
        files=[
            ("images", ("a.png", png("red"), "image/png")),
            ("images", ("b.png", png(), "image/png")),
        ],
        headers=HTMX,
    )
    assert response.status_code == 200, response.text
    assert "テンプレート「予約の確認」を追加しました。" in response.text
    template = await api_named(owner, "templates", "予約の確認")
    folder = await api_named(owner, "template-folders", "予約")
    assert template["folder_id"] == folder["id"]
    assert template["text"] == "{name}様\nご予約ありがとうございます。"  # one line break, not two
    assert len(template["image_ids"]) == 2
    for image_id in template["image_ids"]:
        assert f'src="/files/{image_id}/thumbnail"' in response.text
        thumbnail = await owner.get(f"/files/{image_id}/thumbnail")
        assert thumbnail.status_code == 200 and thumbnail.headers["content-type"] == "image/jpeg"


async def test_editing_takes_an_image_out_adds_another_and_moves_it_out_of_its_folder(
    owner: httpx.AsyncClient,
) -> None:
    await owner.post(
        "/settings/templates",
        data={"name": "道順", "folder": "ご案内", "text": "駅から徒歩3分です。"},
        files=[
            ("images", ("a.png", png("red"), "image/png")),
            ("images", ("b.png", png(), "image/png")),
        ],
        headers=HTMX,
    )
    template = await api_named(owner, "templates", "道順")
    first, second = template["image_ids"]
    page = (await owner.get("/settings/templates", headers=HTML)).text
    assert kept_image_ids(section(page, f"template-{template['id']}")) == [first, second]

    response = await owner.post(
        f"/settings/templates/{template['id']}/update",
        data={
            "name": "道順（駅から）",
            "folder": "",
            "text": "駅の東口から徒歩3分です。",
            "image_ids": [str(first), str(second)],
            "remove_image": [str(first)],
        },
        files=[("images", ("c.png", png("blue"), "image/png"))],
        headers=HTMX,
    )
    assert response.status_code == 200 and "保存しました" in response.text
    edited = await api_named(owner, "templates", "道順（駅から）")
    assert edited["folder_id"] is None
    assert edited["text"] == "駅の東口から徒歩3分です。"
    assert edited["image_ids"][0] == second and len(edited["image_ids"]) == 2
    assert first not in edited["image_ids"]


async def test_a_refused_template_keeps_what_was_typed_and_the_images_already_stored(
    owner: httpx.AsyncClient,
) -> None:
    too_long = "あ" * 1001
    refused = await owner.post(
        "/settings/templates",
        data={"name": "長すぎる", "text": too_long},
        files=[("images", ("a.png", png(), "image/png"))],
        headers=HTMX,
    )
    assert refused.status_code == 422
    form = section(refused.text, "settings-panel")
    assert 'id="error-new-template"' in form
    assert "テンプレートは1000文字までです。" in form
    assert too_long in form
    [stored_image] = kept_image_ids(form)
    assert await api_items(owner, "templates") == []

    # The member shortens the text and saves again: the image chosen before is there.
    again = await owner.post(
        "/settings/templates",
        data={"name": "短く", "text": "あ" * 1000, "image_ids": [str(stored_image)]},
        headers=HTMX,
    )
    assert again.status_code == 200
    assert (await api_named(owner, "templates", "短く"))["image_ids"] == [stored_image]


async def test_a_file_that_is_not_an_image_is_refused_in_japanese(
    owner: httpx.AsyncClient,
) -> None:
    response = await owner.post(
        "/settings/templates",
        data={"name": "画像つき", "text": "どうぞ"},
        files=[("images", ("photo.png", b"not an image at all", "image/png"))],
        headers=HTMX,
    )
    assert response.status_code == 422
    assert "このファイルはJPEG・PNG・GIF・WebPの画像ではありません。" in response.text
    assert 'value="画像つき"' in response.text
    assert await api_items(owner, "templates") == []


async def test_deleting_a_template_says_which_actions_send_it(owner: httpx.AsyncClient) -> None:
    created = await owner.post(
        "/api/v1/templates", json={"name": "予約の確認", "text": "ありがとうございます"}
    )
    template_id = created.json()["id"]
    await owner.post(
        "/api/v1/actions",
        json={
            "name": "予約の受付",
            "steps": [{"type": "send_template", "template_id": template_id}],
        },
    )
    page = (await owner.get("/settings/templates", headers=HTML)).text
    assert (
        "このテンプレートを送るアクション（予約の受付）は、別のテンプレートを選び直すまで実行できなくなります。"
        in page
    )
    assert "アクション「予約の受付」で使用" in page

    deleted = await owner.post(
        f"/settings/templates/{template_id}/delete", data={"name": "予約の確認"}, headers=HTMX
    )
    assert deleted.status_code == 200
    assert "テンプレート「予約の確認」を削除しました。" in deleted.text
    assert await api_items(owner, "templates") == []


async def test_agents_cannot_change_templates(client: httpx.AsyncClient, factory: Factory) -> None:
    await sign_in(client, await factory.member(role="agent"))
    page = await client.get("/settings/templates", headers=HTML)
    assert page.status_code == 403 and "このページはオーナーと管理者専用です" in page.text
    refused = await client.post(
        "/settings/templates", data={"name": "勝手に", "text": "こんにちは"}, headers=HTMX
    )
    assert refused.status_code == 403
    assert await api_items(client, "templates") == []
