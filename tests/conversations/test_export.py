"""Exporting conversations (F45): text, CSV and PDF of one conversation or a filtered inbox."""

from __future__ import annotations

import csv
import io
from datetime import datetime
from zoneinfo import ZoneInfo

import httpx
import pytest
from pypdf import PdfReader

from madoguchi.channels.models import Channel
from madoguchi.contacts.service import ContactChanges, update_contact
from madoguchi.conversations import export, repository
from madoguchi.conversations.models import Conversation
from madoguchi.conversations.repository import InboxQuery
from madoguchi.kit.context import Ctx
from madoguchi.kit.i18n import gettext_for
from madoguchi.members.models import Member
from tests.fixtures import Factory, auth

_ = gettext_for("ja").gettext


@pytest.fixture
async def owner(factory: Factory) -> Member:
    return await factory.member(role="owner", name="店長")


@pytest.fixture
async def token(factory: Factory, owner: Member) -> str:
    return await factory.token(owner)


@pytest.fixture
async def channel(factory: Factory) -> Channel:
    return await factory.channel(name="LINE公式")


async def _conversation(
    client: httpx.AsyncClient, token: str, channel: Channel, *, contact: str, name: str, text: str
) -> int:
    response = await client.post(
        f"/api/v1/channels/{channel.id}/inbound",
        json={"contact": {"external_id": contact, "name": name}, "text": text},
        headers=auth(token),
    )
    assert response.status_code == 201, response.text
    conversation_id: int = response.json()["conversation_id"]
    return conversation_id


async def _say(
    client: httpx.AsyncClient, token: str, conversation_id: int, text: str, kind: str
) -> dict[str, object]:
    response = await client.post(
        f"/api/v1/conversations/{conversation_id}/messages",
        json={"text": text, "kind": kind},
        headers=auth(token),
    )
    assert response.status_code == 201, response.text
    message: dict[str, object] = response.json()
    return message


@pytest.fixture
async def talk(client: httpx.AsyncClient, token: str, channel: Channel) -> int:
    """佐藤 asks, the shop answers, and a colleague leaves a note."""
    conversation_id = await _conversation(
        client, token, channel, contact="c-1", name="佐藤 美咲", text="予約を変更したいです"
    )
    await _say(client, token, conversation_id, "承知しました。何日がよろしいですか", "reply")
    await _say(client, token, conversation_id, "常連さん、前回は火曜日", "note")
    return conversation_id


def _tokyo(value: str) -> str:
    return (
        datetime.fromisoformat(value).astimezone(ZoneInfo("Asia/Tokyo")).strftime("%Y-%m-%d %H:%M")
    )


async def test_text_export_has_the_contact_channel_times_and_notes_marked(
    client: httpx.AsyncClient, token: str, talk: int
) -> None:
    response = await client.get(
        f"/api/v1/conversations/{talk}/export?format=txt", headers=auth(token)
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    assert f'filename="conversation-{talk}.txt"' in response.headers["content-disposition"]
    text = response.text
    assert "佐藤 美咲" in text and "LINE公式 (api)" in text
    assert "予約を変更したいです" in text and "承知しました。何日がよろしいですか" in text
    assert f"店長 [{_('Note')}]\n    常連さん、前回は火曜日" in text
    assert f"店長 [{_('Reply')}]" in text
    messages = (
        await client.get(f"/api/v1/conversations/{talk}/messages", headers=auth(token))
    ).json()["items"]
    for message in messages:
        assert f"[{_tokyo(message['created_at'])}]" in text


async def test_notes_can_be_left_out(client: httpx.AsyncClient, token: str, talk: int) -> None:
    for format in ("txt", "csv"):
        response = await client.get(
            f"/api/v1/conversations/{talk}/export?format={format}&notes=false", headers=auth(token)
        )
        assert response.status_code == 200
        assert "常連さん" not in response.text and "承知しました" in response.text


async def test_csv_export_is_one_row_per_message_with_a_bom_and_formula_safe(
    client: httpx.AsyncClient, token: str, channel: Channel
) -> None:
    conversation_id = await _conversation(
        client, token, channel, contact="c-9", name="=HYPERLINK(1)", text="-2+3 の件"
    )
    await _say(client, token, conversation_id, "確認します", "note")
    response = await client.get(
        f"/api/v1/conversations/{conversation_id}/export?format=csv", headers=auth(token)
    )
    assert response.status_code == 200
    assert response.content.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows[0][:2] == [_("Conversation"), _("Customer name")]
    assert [row[0] for row in rows[1:]] == [str(conversation_id)] * 2
    first, note = rows[1], rows[2]
    assert first[1] == "'=HYPERLINK(1)" and first[9] == "'-2+3 の件"
    assert first[8] == _("From the customer") and note[8] == _("Note")
    assert first[2] == "LINE公式 (api)"


async def test_csv_in_cp932_writes_a_stand_in_for_what_shift_jis_cannot_hold(
    client: httpx.AsyncClient, token: str, channel: Channel
) -> None:
    conversation_id = await _conversation(
        client, token, channel, contact="c-8", name="髙橋", text="よろしく🙏"
    )
    response = await client.get(
        f"/api/v1/conversations/{conversation_id}/export?format=csv&encoding=cp932",
        headers=auth(token),
    )
    assert response.status_code == 200
    assert "Shift_JIS" in response.headers["content-type"]
    rows = list(csv.reader(io.StringIO(response.content.decode("cp932"))))
    assert rows[1][1] == "髙橋" and rows[1][9] == "よろしく〓"


async def test_pdf_export_holds_the_japanese_text(
    client: httpx.AsyncClient, token: str, talk: int
) -> None:
    response = await client.get(
        f"/api/v1/conversations/{talk}/export?format=pdf", headers=auth(token)
    )
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/pdf"
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(response.content)).pages)
    assert "佐藤 美咲" in text and "LINE公式" in text
    assert "予約を変更したいです" in text and "常連さん、前回は火曜日" in text
    assert _("Note") in text
    without = await client.get(
        f"/api/v1/conversations/{talk}/export?format=pdf&notes=false", headers=auth(token)
    )
    plain = "".join(p.extract_text() for p in PdfReader(io.BytesIO(without.content)).pages)
    assert "常連さん" not in plain and "予約を変更したいです" in plain


async def test_pdf_wraps_long_lines_and_breaks_pages(
    client: httpx.AsyncClient, token: str, talk: int
) -> None:
    long = "あいうえおかきくけこ" * 40  # 400 characters: several lines of a page's width
    for _n in range(30):
        await _say(client, token, talk, long, "reply")
    response = await client.get(
        f"/api/v1/conversations/{talk}/export?format=pdf", headers=auth(token)
    )
    reader = PdfReader(io.BytesIO(response.content))
    assert len(reader.pages) > 2
    lines = reader.pages[1].extract_text().splitlines()
    # Each wrapped line is a part of the text, none is the whole.
    parts = [line for line in lines if line and set(line) <= set("あいうえおかきくけこ")]
    assert parts and all(len(line) < len(long) for line in parts)
    whole = "".join(page.extract_text() for page in reader.pages).replace("\n", "")
    assert whole.count(long) == 30  # nothing lost at the line and page breaks


def test_wrap_breaks_japanese_by_width_and_keeps_latin_words() -> None:
    export._pdf_font()
    lines = export.wrap("予約" * 50, 100)
    assert len(lines) > 1 and "".join(lines) == "予約" * 50
    assert all(len(line) <= 11 for line in lines)  # 9.5 pt a character: 10 in 100 pt
    words = export.wrap("please call me tomorrow morning", 80)
    assert "".join(words).replace(" ", "") == "pleasecallmetomorrowmorning"
    assert all(not line.endswith("cal") for line in words)


async def test_times_are_written_in_the_zone_asked(ctx: Ctx, factory: Factory) -> None:
    channel = await factory.channel()
    owner = await factory.member(role="owner")
    ingested = await factory.inbound(channel, text="時刻の確認")
    conversation = await ctx.db.get(Conversation, ingested.message.conversation_id)
    assert conversation is not None
    at = ingested.message.created_at
    written = {}
    for zone in ("Asia/Tokyo", "America/New_York"):
        made = await export.export_conversation(
            ctx.db,
            conversation=conversation,
            member_id=owner.id,
            options=export.ExportOptions(format=export.ExportFormat.txt, timezone=zone),
        )
        written[zone] = b"".join([chunk async for chunk in made.chunks]).decode()
    for zone, text in written.items():
        assert f"[{at.astimezone(ZoneInfo(zone)).strftime('%Y-%m-%d %H:%M')}]" in text
    assert written["Asia/Tokyo"] != written["America/New_York"]


async def test_the_filtered_export_holds_exactly_the_inbox_list_of_that_filter(
    client: httpx.AsyncClient, token: str, channel: Channel, ctx: Ctx
) -> None:
    ids = [
        await _conversation(
            client, token, channel, contact=f"c-{n}", name=f"お客様{n}", text=f"質問{n}"
        )
        for n in range(6)
    ]
    vip = [ids[1], ids[3], ids[4]]
    listing = await client.get("/api/v1/conversations", headers=auth(token))
    contact_of = {item["id"]: item["contact_id"] for item in listing.json()["items"]}
    for conversation_id in vip:
        await update_contact(
            ctx,
            contact_id=contact_of[conversation_id],
            changes=ContactChanges(status="対応中", set_status=True),
        )
    query = "status=対応中"
    inbox = await client.get(f"/api/v1/conversations?{query}", headers=auth(token))
    expected = [item["id"] for item in inbox.json()["items"]]
    assert sorted(expected) == sorted(vip)
    response = await client.get(
        f"/api/v1/conversations/export?format=csv&{query}", headers=auth(token)
    )
    assert response.status_code == 200, response.text
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert [int(row[0]) for row in rows[1:]] == expected
    text = await client.get(f"/api/v1/conversations/export?format=txt&{query}", headers=auth(token))
    assert "質問1" in text.text and "質問0" not in text.text


async def test_a_large_export_is_sent_a_page_at_a_time(
    ctx: Ctx, factory: Factory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each keyset page goes out before the next is read: what is held is one page."""
    channel = await factory.channel()
    owner = await factory.member(role="owner")
    for n in range(7):
        await factory.inbound(channel, contact=f"c-{n}", name=f"客{n}", text=f"本文{n}")
    await ctx.db.rollback()
    monkeypatch.setattr(export, "EXPORT_PAGE", 2)
    pages_read = 0
    real = repository.list_conversations

    async def counted(*args: object, **kwargs: object) -> repository.Page:
        nonlocal pages_read
        pages_read += 1
        return await real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(repository, "list_conversations", counted)
    made = await export.export_inbox(
        ctx.db,
        member_id=owner.id,
        query=InboxQuery(),
        options=export.ExportOptions(format=export.ExportFormat.csv),
        now=ctx.now(),
    )
    assert pages_read == 1  # the first page, to check the filter before answering
    seen = []
    async for chunk in made.chunks:
        seen.append((chunk.decode("utf-8-sig").count("本文"), pages_read))
    # The header, then one chunk per page of two, each sent before the page after it was read.
    counts = [count for count, _read in seen if count]
    assert counts == [2, 2, 2, 1]
    assert [read for count, read in seen if count] == [1, 2, 3, 4]


async def test_the_filtered_export_is_streamed_without_a_length(
    client: httpx.AsyncClient, token: str, talk: int
) -> None:
    async with client.stream(
        "GET", "/api/v1/conversations/export?format=txt", headers=auth(token)
    ) as response:
        assert response.status_code == 200
        assert "content-length" not in response.headers
        body = b"".join([chunk async for chunk in response.aiter_bytes()])
    assert "予約を変更したいです" in body.decode()


async def test_a_pdf_of_more_than_its_limit_is_refused_before_writing(
    client: httpx.AsyncClient, token: str, channel: Channel, monkeypatch: pytest.MonkeyPatch
) -> None:
    for n in range(3):
        await _conversation(client, token, channel, contact=f"p-{n}", name=f"客{n}", text="本文")
    monkeypatch.setattr(export, "MAX_PDF_CONVERSATIONS", 2)
    response = await client.get("/api/v1/conversations/export?format=pdf", headers=auth(token))
    assert response.status_code == 422
    assert "2" in response.json()["detail"] and "CSV" in response.json()["detail"]
    csv_answer = await client.get("/api/v1/conversations/export?format=csv", headers=auth(token))
    assert csv_answer.status_code == 200


async def test_bad_export_requests_are_refused_clearly(
    client: httpx.AsyncClient, token: str, talk: int, factory: Factory
) -> None:
    cases = [
        (f"/api/v1/conversations/{talk}/export?format=docx", 422),
        (f"/api/v1/conversations/{talk}/export?format=txt&encoding=cp932", 422),
        (f"/api/v1/conversations/{talk}/export?format=csv&encoding=latin1", 422),
        ("/api/v1/conversations/999999/export?format=txt", 404),
        ("/api/v1/conversations/export?format=csv&status=存在しない", 404),
        ("/api/v1/conversations/export?format=csv&tag=99999", 404),
        ("/api/v1/conversations/export?format=csv&view=everything", 422),
    ]
    for path, status in cases:
        response = await client.get(path, headers=auth(token))
        assert response.status_code == status, (path, response.text)
        assert response.json()["detail"]
    agent = await factory.member(role="agent")
    agent_token = await factory.token(agent)
    refused = await client.get("/api/v1/conversations/export", headers=auth(agent_token))
    assert refused.status_code == 403
    # One conversation is any member's to export: they can read it in the inbox.
    one = await client.get(f"/api/v1/conversations/{talk}/export", headers=auth(agent_token))
    assert one.status_code == 200


async def test_long_and_short_conversations_keep_every_message_in_order(
    client: httpx.AsyncClient, token: str, channel: Channel, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Small conversations are read together, a long one a batch at a time: nothing is lost or
    out of place either way."""
    monkeypatch.setattr(export, "MESSAGE_BATCH", 3)
    short = await _conversation(client, token, channel, contact="s-1", name="短い", text="一通目")
    long = await _conversation(client, token, channel, contact="l-1", name="長い", text="長0")
    for n in range(1, 8):
        await _say(client, token, long, f"長{n}", "reply")
    other = await _conversation(client, token, channel, contact="s-2", name="短い2", text="二通目")
    await _say(client, token, other, "返事", "note")
    response = await client.get("/api/v1/conversations/export?format=csv", headers=auth(token))
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))[1:]
    assert [(int(row[0]), row[9]) for row in rows] == [
        (other, "二通目"),
        (other, "返事"),
        (long, "長0"),
        *[(long, f"長{n}") for n in range(1, 8)],
        (short, "一通目"),
    ]
