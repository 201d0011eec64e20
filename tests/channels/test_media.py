"""What customers send besides text and images, through the channels' real wire formats: LINE
stickers, videos, voice messages, files and locations (signed webhook bodies), Instagram
attachments; the files come from a local recording server, are kept, and the thread shows them
from our own origin."""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import re
from typing import Any

import httpx
import pytest
from PIL import Image

from madoguchi.channels.models import Channel
from madoguchi.files import service as files
from madoguchi.kit.context import Ctx
from tests.channels.conftest import Recorder
from tests.channels.test_line import post, text_event
from tests.fixtures import Factory
from tests.ui.conftest import HTML, sign_in

# Some bytes standing for a video, a voice message and a PDF: kept as they came, never decoded.
VIDEO = b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 8
AUDIO = b"\x00\x00\x00\x1cftypM4A " + bytes(range(256)) * 4
PDF = b"%PDF-1.4\n% a menu\n%%EOF\n"
IG_SECRET = "meta-app-secret-media"


def png(width: int, height: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGBA", (width, height), (250, 200, 0, 255)).save(out, format="PNG")
    return out.getvalue()


def line_message(message_id: str, user: str = "U1", **message: Any) -> dict[str, Any]:
    return {**text_event(message_id, "", user=user), "message": {"id": message_id, **message}}


def sticker_path(sticker_id: str) -> str:
    return f"/stickershop/v1/sticker/{sticker_id}/android/sticker.png"


async def thread_html(client: httpx.AsyncClient, conversation_id: int) -> str:
    response = await client.get(f"/c/{conversation_id}", headers=HTML)
    assert response.status_code == 200, response.text
    return response.text


async def messages_of(client: httpx.AsyncClient) -> tuple[int, list[dict[str, Any]]]:
    [item] = (await client.get("/api/v1/conversations")).json()["items"]
    answer = await client.get(f"/api/v1/conversations/{item['id']}/messages")
    return item["id"], answer.json()["items"]


async def test_line_sticker_video_audio_file_and_location_are_kept_and_shown(
    client: httpx.AsyncClient, line: Channel, recorder: Recorder, factory: Factory
) -> None:
    await sign_in(client, await factory.member(role="owner"))
    recorder.answer("GET", sticker_path("52002734"), (200, png(120, 110)), content_type="image/png")
    recorder.answer("GET", "/v2/bot/message/8001/content", (200, VIDEO), content_type="video/mp4")
    recorder.answer("GET", "/v2/bot/message/8002/content", (200, AUDIO), content_type="audio/x-m4a")
    recorder.answer(
        "GET", "/v2/bot/message/8003/content", (200, PDF), content_type="application/pdf"
    )
    events = [
        line_message("8000", type="sticker", packageId="11537", stickerId="52002734",
                     stickerResourceType="STATIC", keywords=["OK"]),
        line_message("8001", type="video", duration=6000, contentProvider={"type": "line"}),
        line_message("8002", type="audio", duration=3000, contentProvider={"type": "line"}),
        line_message("8003", type="file", fileName="メニュー表.pdf", fileSize=len(PDF)),
        line_message("8004", type="location", title="サロン・ルミエール",
                     address="東京都渋谷区神南1-2-3", latitude=35.6628, longitude=139.6993),
    ]  # fmt: skip
    assert (await post(client, line, events)).status_code == 200

    conversation_id, (sticker, video, audio, document, place) = await messages_of(client)
    assert sticker["images"][0]["content_type"] == "image/png"
    assert (video["images"][0]["content_type"], video["images"][0]["size"]) == (
        "video/mp4",
        len(VIDEO),
    )
    assert audio["images"][0]["content_type"] == "audio/x-m4a"
    assert (document["images"][0]["content_type"], document["images"][0]["name"]) == (
        "application/pdf",
        "メニュー表.pdf",
    )
    assert document["meta"] == {"media": [{"kind": "file", "name": "メニュー表.pdf"}]}
    assert place["meta"]["location"] == {
        "title": "サロン・ルミエール",
        "address": "東京都渋谷区神南1-2-3",
        "latitude": 35.6628,
        "longitude": 139.6993,
    }
    for fetched in ("8001", "8002", "8003"):
        [call] = recorder.calls("GET", f"/v2/bot/message/{fetched}/content")
        assert call.headers["authorization"] == "Bearer line-access-token"

    html = await thread_html(client, conversation_id)
    assert f'<p class="message-sticker"><img src="/files/{sticker["images"][0]["id"]}"' in html
    assert "スタンプ</span>" not in html  # the placeholder is gone: the sticker shows
    assert f'<video class="message-video" src="/files/{video["images"][0]["id"]}" controls' in html
    assert f'<audio class="message-audio" src="/files/{audio["images"][0]["id"]}" controls' in html
    assert f'href="/files/{document["images"][0]["id"]}" download="メニュー表.pdf"' in html
    assert (
        'href="https://www.google.com/maps/search/?api=1&amp;query=35.6628%2C139.6993" '
        'target="_blank" rel="noopener noreferrer"'
    ) in html
    assert "東京都渋谷区神南1-2-3" in html and "Google マップで開く" in html
    assert "表示できない種類" not in html and "cannot show" not in html
    # The list says what the last message was, in the member's language.
    assert "📍 位置情報" in (await client.get("/", headers=HTML)).text
    # And so does the customer page's list of their conversations.
    [item] = (await client.get("/api/v1/conversations")).json()["items"]
    contact_page = await client.get(f"/contacts/{item['contact_id']}", headers=HTML)
    assert "📍 位置情報" in contact_page.text

    # Served from our origin: a video and a sound play in the page, a file only downloads.
    played = await client.get(f"/files/{video['images'][0]['id']}")
    assert played.content == VIDEO and played.headers["content-type"] == "video/mp4"
    assert "attachment" not in played.headers.get("content-disposition", "")
    ranged = await client.get(f"/files/{audio['images'][0]['id']}", headers={"Range": "bytes=0-9"})
    assert ranged.status_code == 206 and ranged.content == AUDIO[:10]
    download = await client.get(f"/files/{document['images'][0]['id']}")
    assert download.content == PDF
    assert download.headers["content-disposition"].startswith("attachment;")
    assert download.headers["x-content-type-options"] == "nosniff"


async def test_the_list_preview_names_each_kind_in_the_members_language(
    client: httpx.AsyncClient, line: Channel, recorder: Recorder, factory: Factory
) -> None:
    member = await factory.member(role="owner")
    await sign_in(client, member)
    for message_id, content, kind in (
        ("8101", VIDEO, "video/mp4"),
        ("8102", AUDIO, "audio/x-m4a"),
        ("8103", PDF, "application/pdf"),
    ):
        recorder.answer(
            "GET", f"/v2/bot/message/{message_id}/content", (200, content), content_type=kind
        )
    kinds = {"U1": "video", "U2": "audio", "U3": "file"}
    events = [
        line_message(f"810{n}", user=user, type=kind, fileName="a.pdf" if kind == "file" else None)
        for n, (user, kind) in enumerate(kinds.items(), start=1)
    ]
    assert (await post(client, line, events)).status_code == 200
    page = (await client.get("/", headers=HTML)).text
    for shown in ("🎞 動画", "🎤 音声", "📎 ファイル"):
        assert shown in page
    english = await client.patch("/api/v1/me", json={"language": "en"})
    assert english.status_code == 200, english.text
    page = (await client.get("/", headers=HTML)).text
    for shown in ("🎞 Video", "🎤 Voice message", "📎 File"):
        assert shown in page


async def test_a_sticker_image_is_fetched_once_and_shared_by_every_message_with_it(
    client: httpx.AsyncClient, line: Channel, recorder: Recorder, factory: Factory
) -> None:
    await sign_in(client, await factory.member(role="owner"))
    recorder.answer("GET", sticker_path("1988"), (200, png(80, 80)), content_type="image/png")
    sticker = {"type": "sticker", "packageId": "446", "stickerId": "1988"}
    assert (await post(client, line, [line_message("8201", **sticker)])).status_code == 200
    assert (await post(client, line, [line_message("8202", **sticker)])).status_code == 200
    _, (first, second) = await messages_of(client)
    assert first["images"][0]["id"] == second["images"][0]["id"]
    assert len(recorder.calls("GET", sticker_path("1988"))) == 1


async def test_a_file_over_the_limit_or_refused_is_noted_on_a_kept_message(
    client: httpx.AsyncClient, line: Channel, recorder: Recorder, factory: Factory
) -> None:
    await sign_in(client, await factory.member(role="owner"))
    too_big = b"\x00" * (files.MAX_MEDIA_BYTES + 1)
    recorder.answer("GET", "/v2/bot/message/8301/content", (200, too_big), content_type="video/mp4")
    recorder.answer("GET", "/v2/bot/message/8302/content", (500, b"busy"))
    recorder.answer("GET", sticker_path("77"), (404, b"no such sticker"))
    events = [
        line_message("8301", type="video", duration=600000),
        line_message("8302", type="audio", duration=3000),
        line_message("8303", type="sticker", packageId="1", stickerId="77"),
    ]
    assert (await post(client, line, events)).status_code == 200
    conversation_id, (video, audio, sticker) = await messages_of(client)
    assert video["images"] == [] and video["meta"]["media_error"] == "too_big"
    assert audio["images"] == [] and "HTTP 500" in audio["meta"]["media_error"]
    assert sticker["images"] == [] and "HTTP 404" in sticker["meta"]["media_error"]
    html = await thread_html(client, conversation_id)
    assert html.count("10 MBを超えるファイルのため、Madoguchiには保存していません。") == 1
    assert html.count("ファイルをチャネルから受け取れませんでした。") == 2
    assert "スタンプ</span>" in html  # a sticker without its image: the word, as before


@pytest.fixture
async def instagram(ctx: Ctx, recorder: Recorder) -> Channel:
    from madoguchi.channels import service as channels

    return await channels.create_channel(
        ctx,
        kind="instagram",
        name="Instagram @lumiere",
        settings={
            "app_secret": IG_SECRET,
            "verify_token": "verify-me",
            "access_token": "IGTOKEN",
            "api_base": recorder.url,
        },
    )


async def test_instagram_video_audio_file_and_shared_post_are_kept_and_shown(
    client: httpx.AsyncClient, instagram: Channel, recorder: Recorder, factory: Factory
) -> None:
    await sign_in(client, await factory.member(role="owner"))
    recorder.answer("GET", "/cdn/clip", (200, VIDEO), content_type="video/mp4")
    recorder.answer("GET", "/cdn/voice", (200, AUDIO), content_type="audio/mpeg")
    recorder.answer("GET", "/cdn/doc", (200, PDF), content_type="application/pdf")

    def attachment(kind: str, path: str) -> dict[str, Any]:
        return {"type": kind, "payload": {"url": f"{recorder.url}{path}"}}

    def dm(mid: str, *attachments: dict[str, Any]) -> dict[str, Any]:
        return {
            "sender": {"id": "IGSID9"},
            "recipient": {"id": "17841400000"},
            "timestamp": 1732500000000,
            "message": {"mid": mid, "attachments": list(attachments)},
        }

    shared = "https://www.instagram.com/p/C0abcdef/"
    body = json.dumps(
        {
            "object": "instagram",
            "entry": [
                {
                    "id": "17841400000",
                    "time": 1732500000,
                    "messaging": [
                        dm("m1", attachment("video", "/cdn/clip")),
                        dm("m2", attachment("audio", "/cdn/voice")),
                        dm("m3", attachment("file", "/cdn/doc")),
                        dm("m4", {"type": "share", "payload": {"url": shared}}),
                    ],
                }
            ],
        }
    ).encode()
    signature = "sha256=" + hmac.new(IG_SECRET.encode(), body, hashlib.sha256).hexdigest()
    answer = await client.post(
        f"/webhooks/instagram/{instagram.id}",
        content=body,
        headers={"X-Hub-Signature-256": signature, "Content-Type": "application/json"},
    )
    assert answer.status_code == 200, answer.text

    conversation_id, (video, audio, document, share) = await messages_of(client)
    assert video["images"][0]["content_type"] == "video/mp4"
    assert audio["images"][0]["content_type"] == "audio/mpeg"
    assert document["images"][0]["content_type"] == "application/pdf"
    assert share["meta"] == {"links": [{"kind": "share", "url": shared}]}
    html = await thread_html(client, conversation_id)
    assert f'<video class="message-video" src="/files/{video["images"][0]["id"]}"' in html
    assert f'<audio class="message-audio" src="/files/{audio["images"][0]["id"]}"' in html
    assert re.search(rf'href="/files/{document["images"][0]["id"]}" download="file-1\.pdf"', html)
    assert f'href="{shared}" target="_blank" rel="noopener noreferrer"' in html
    assert "シェアされた投稿・ストーリー（Instagramで開く）" in html
    assert "🔗 リンク" in (await client.get("/", headers=HTML)).text
