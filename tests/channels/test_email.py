"""E-mail through real SMTP: smtplib into our listener, aiosmtpd catching our replies."""

from __future__ import annotations

import asyncio
import smtplib
from collections.abc import AsyncIterator
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.utils import make_msgid
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller

from madoguchi.channels.base import printable
from madoguchi.channels.models import Channel
from madoguchi.config import Settings
from madoguchi.connectors import email as email_channel
from madoguchi.conversations.models import Conversation, ConversationState
from madoguchi.events import InProcessBus
from madoguchi.jobs import Worker
from madoguchi.kit.context import Ctx
from madoguchi.kit.db import Database
from tests.conftest import _free_port
from tests.conversations.test_workflow import png
from tests.fixtures import Factory, auth

ADDRESS = "info@salon.example.jp"


class Catcher:
    """The customer's mail server: keeps what we send."""

    def __init__(self) -> None:
        self.mails: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.mails.append(envelope)
        return "250 OK"


@pytest.fixture
def catcher() -> Any:
    handler = Catcher()
    controller = Controller(handler, hostname="127.0.0.1", port=_free_port())
    controller.start()
    yield handler, controller.port
    controller.stop()


@pytest.fixture
async def mail_channel(ctx: Ctx, catcher: Any) -> Channel:
    from madoguchi.channels import service as channels

    return await channels.create_channel(
        ctx,
        kind="email",
        name="ヘアサロン ルミエール",
        settings={"address": ADDRESS, "smtp_host": "127.0.0.1", "smtp_port": catcher[1]},
    )


@pytest.fixture
async def listener(settings: Settings, database: Database) -> AsyncIterator[int]:
    port = _free_port()
    worker = Worker(settings=settings, database=database, bus=InProcessBus())
    async with email_channel.listening(worker.ctx, f"127.0.0.1:{port}"):
        yield port


def send_mail(port: int, mail: EmailMessage, to: str = ADDRESS) -> None:
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as smtp:
        smtp.send_message(mail, to_addrs=[to])


def customer_mail(subject: str, body: str, **headers: str) -> EmailMessage:
    mail = EmailMessage()
    mail["From"] = "山田 花子 <hanako@example.com>"
    mail["To"] = ADDRESS
    mail["Subject"] = subject
    mail["Message-ID"] = make_msgid(domain="example.com")
    for name, value in headers.items():
        mail[name.replace("_", "-")] = value
    mail.set_content(body)
    return mail


async def test_mail_becomes_a_conversation_and_replies_thread_back(
    client: httpx.AsyncClient,
    mail_channel: Channel,
    listener: int,
    catcher: Any,
    factory: Factory,
    settings: Settings,
    database: Database,
) -> None:
    token = await factory.token(await factory.member())
    first = customer_mail("予約の件", "来週の土曜日に予約できますか？\n")
    await asyncio.to_thread(send_mail, listener, first)
    [item] = (await client.get("/api/v1/conversations", headers=auth(token))).json()["items"]
    assert item["channel"]["kind"] == "email"
    assert item["contact"]["channel_name"] == "山田 花子"
    contact = (
        await client.get(f"/api/v1/contacts/{item['contact_id']}", headers=auth(token))
    ).json()
    assert contact["email"] == "hanako@example.com"

    reply = await client.post(
        f"/api/v1/conversations/{item['id']}/messages",
        json={"text": "土曜10時でご用意できます。"},
        headers=auth(token),
    )
    assert reply.json()["external_id"].endswith("@salon.example.jp>")
    await Worker(settings=settings, database=database, bus=InProcessBus()).tick()
    handler, _port = catcher
    [envelope] = handler.mails
    assert envelope.rcpt_tos == ["hanako@example.com"]
    sent = message_from_bytes(envelope.content, policy=policy.default)
    assert sent["In-Reply-To"] == first["Message-ID"]
    assert first["Message-ID"] in sent["References"]
    assert sent["Subject"] == "Re: 予約の件"
    assert sent["Message-ID"] == reply.json()["external_id"]

    answer = customer_mail(
        "Re: 予約の件",
        "ありがとうございます！\n\n> 土曜10時でご用意できます。\n",
        In_Reply_To=sent["Message-ID"],
        References=f"{first['Message-ID']} {sent['Message-ID']}",
    )
    await asyncio.to_thread(send_mail, listener, answer)
    messages = (
        await client.get(f"/api/v1/conversations/{item['id']}/messages", headers=auth(token))
    ).json()["items"]
    assert [m["text"] for m in messages] == [
        "来週の土曜日に予約できますか？",
        "土曜10時でご用意できます。",
        "ありがとうございます！",
    ]
    await asyncio.to_thread(send_mail, listener, answer)  # delivered twice: stored once
    again = (
        await client.get(f"/api/v1/conversations/{item['id']}/messages", headers=auth(token))
    ).json()["items"]
    assert len(again) == 3


async def test_unknown_recipients_are_refused_and_html_is_made_safe(
    client: httpx.AsyncClient, mail_channel: Channel, listener: int, factory: Factory
) -> None:
    token = await factory.token(await factory.member())
    with pytest.raises(smtplib.SMTPRecipientsRefused):
        await asyncio.to_thread(
            send_mail, listener, customer_mail("x", "y"), "nobody@salon.example.jp"
        )

    mail = EmailMessage()
    mail["From"] = "sato@example.com"
    mail["To"] = ADDRESS.upper()
    mail["Subject"] = "写真です"
    mail.set_content("HTMLが読めない方へ")
    mail.add_alternative(
        "<html><head><style>p{}</style></head><body><p>髪型の写真です<script>alert(1)</script></p>"
        "<p>よろしく&amp;お願いします</p></body></html>",
        subtype="html",
    )
    mail.add_attachment(png(), maintype="image", subtype="png", filename="hair.png")
    await asyncio.to_thread(send_mail, listener, mail, ADDRESS.upper())
    [item] = (await client.get("/api/v1/conversations", headers=auth(token))).json()["items"]
    [message] = (
        await client.get(f"/api/v1/conversations/{item['id']}/messages", headers=auth(token))
    ).json()["items"]
    assert message["text"] == "HTMLが読めない方へ"
    assert message["images"][0]["content_type"] == "image/png"

    html_only = EmailMessage()
    html_only["From"] = "kato@example.com"
    html_only["To"] = ADDRESS
    html_only["Subject"] = "HTMLだけ"
    html_only.set_content(
        "<p>髪型の写真です<script>alert(1)</script></p><p>よろしく&amp;お願いします</p>",
        subtype="html",
    )
    await asyncio.to_thread(send_mail, listener, html_only)
    items = (await client.get("/api/v1/conversations", headers=auth(token))).json()["items"]
    assert items[0]["last_message_preview"] == "髪型の写真です よろしく&お願いします"


def test_quoted_text_is_cut_from_replies() -> None:
    text = (
        "了解です。\n\n2026年11月24日(火) 10:00 ルミエール <info@salon.example.jp>:\n"
        "> 土曜10時で\n> どうぞ\n"
    )
    assert email_channel.strip_quote(text) == "了解です。"
    english = "Thanks!\n\nOn Mon, Nov 24 2026 Salon wrote:\n> hi\n"
    assert email_channel.strip_quote(english) == "Thanks!"
    assert email_channel.strip_quote("本文だけ") == "本文だけ"


async def conversation_texts(
    client: httpx.AsyncClient, token: str, conversation_id: int
) -> list[str]:
    items = (
        await client.get(f"/api/v1/conversations/{conversation_id}/messages", headers=auth(token))
    ).json()["items"]
    return [message["text"] for message in items]


async def test_a_reply_goes_to_the_conversation_its_references_name_not_the_latest(
    client: httpx.AsyncClient,
    ctx: Ctx,
    mail_channel: Channel,
    listener: int,
    factory: Factory,
) -> None:
    token = await factory.token(await factory.member())
    first = customer_mail("予約の件", "来週の土曜日に予約できますか？")
    await asyncio.to_thread(send_mail, listener, first)
    [old] = (await client.get("/api/v1/conversations", headers=auth(token))).json()["items"]
    # The service keeps one conversation per contact and channel; a second, newer one (imported
    # data) is made directly, so that only the References can put a mail in the older one.
    newer = Conversation(
        contact_id=old["contact_id"],
        channel_id=mail_channel.id,
        state=ConversationState.closed,
        last_activity_at=ctx.now(),
        created_at=ctx.now(),
    )
    ctx.db.add(newer)
    await ctx.db.commit()

    answer = customer_mail(
        "Re: 予約の件",
        "10時でお願いします",
        In_Reply_To=first["Message-ID"],
        References=first["Message-ID"],
    )
    await asyncio.to_thread(send_mail, listener, answer)
    assert await conversation_texts(client, token, old["id"]) == [
        "来週の土曜日に予約できますか？",
        "10時でお願いします",
    ]
    # A mail that references nothing known continues the sender's latest conversation.
    unrelated = customer_mail("駐車場について", "車で行っても大丈夫ですか？", References="<x@y>")
    await asyncio.to_thread(send_mail, listener, unrelated)
    assert await conversation_texts(client, token, newer.id) == ["車で行っても大丈夫ですか？"]
    # Someone else quoting her mail starts a conversation of their own.
    other = customer_mail("Re: 予約の件", "私も予約したいです", References=first["Message-ID"])
    other.replace_header("From", "鈴木 一郎 <ichiro@example.com>")
    await asyncio.to_thread(send_mail, listener, other)
    items = (await client.get("/api/v1/conversations", headers=auth(token))).json()["items"]
    [ichiro] = [item for item in items if item["contact"]["channel_name"] == "鈴木 一郎"]
    assert await conversation_texts(client, token, ichiro["id"]) == ["私も予約したいです"]
    assert len(await conversation_texts(client, token, old["id"])) == 2


async def test_control_characters_in_a_mail_are_stored_cleaned(
    client: httpx.AsyncClient, mail_channel: Channel, listener: int, factory: Factory
) -> None:
    token = await factory.token(await factory.member())
    mail = customer_mail("予約\x00の件\x07", "来週\x00の土曜日\tに\x1b予約できますか？\n")
    mail.replace_header("From", "山田\x00 花子 <hanako@example.com>")
    mail.replace_header("Message-ID", "<nul\x00mail@example.com>")
    await asyncio.to_thread(send_mail, listener, mail)
    [item] = (await client.get("/api/v1/conversations", headers=auth(token))).json()["items"]
    assert item["contact"]["channel_name"] == "山田 花子"
    [message] = (
        await client.get(f"/api/v1/conversations/{item['id']}/messages", headers=auth(token))
    ).json()["items"]
    assert message["text"] == "来週の土曜日\tに予約できますか？"
    assert message["external_id"] == "<nulmail@example.com>"
    assert message["meta"]["subject"] == "予約の件"
    # Delivered again (the sender's server did not hear our 250): stored once.
    await asyncio.to_thread(send_mail, listener, mail)
    assert len(await conversation_texts(client, token, item["id"])) == 1


def test_printable_keeps_tabs_and_line_breaks_only() -> None:
    assert printable("a\x00b\x01c\x1fd\x7f\te\nf\r\ng　ü😀") == "abcd\x7f\te\nf\r\ng　ü😀"
    assert printable("") == ""
    assert printable("予約\ud83dです") == "予約です"  # half of a surrogate pair
