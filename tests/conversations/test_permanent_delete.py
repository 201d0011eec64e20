"""Permanent delete (F16) of a conversation or a whole contact holding every kind of message:
the customer's, replies, notes, system lines, scheduled sends (sent and pending), failed
deliveries and images. Both answer 204 on either database, and every search index is whole after."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from PIL import Image
from sqlalchemy import func, select, text

from madoguchi import search
from madoguchi.config import Settings
from madoguchi.connectors import inbound
from madoguchi.conversations.models import Message
from madoguchi.events import InProcessBus
from madoguchi.jobs import Worker
from madoguchi.kit.context import Ctx
from madoguchi.kit.db import Database
from tests.fixtures import Factory, auth


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (24, 16), (90, 160, 200)).save(out, format="PNG")
    return out.getvalue()


async def _every_kind_of_message(
    client: httpx.AsyncClient,
    ctx: Ctx,
    factory: Factory,
    settings: Settings,
    database: Database,
    token: str,
) -> tuple[int, int]:
    """A LINE conversation without an access token (so replies fail) holding one message of
    each kind; answers (conversation id, contact id)."""
    line = await factory.channel(kind="line", name="LINE")
    ingested = await inbound.receive(
        ctx,
        inbound.Inbound(
            channel_id=line.id,
            kind=line.kind,
            sender="U-delete-me",
            name="消える 予定",
            text="永久削除テストの問い合わせ",
            message_id="line-msg-1",
            images=[inbound.Attachment("inbound.png", _png())],
        ),
    )
    conversation_id = ingested.conversation.id
    contact_id = ingested.conversation.contact_id
    me = (await client.get("/api/v1/me", headers=auth(token))).json()
    url = f"/api/v1/conversations/{conversation_id}"

    upload = await client.post(
        "/api/v1/files", files={"file": ("r.png", _png(), "image/png")}, headers=auth(token)
    )
    steps = [
        client.post(f"{url}/assign", json={"member_id": me["id"]}, headers=auth(token)),
        client.post(
            f"{url}/messages",
            json={"text": "返信テスト", "image_ids": [upload.json()["id"]]},
            headers=auth(token),
        ),
        client.post(
            f"{url}/messages",
            json={"text": f"@{me['name']} 社内メモ", "kind": "note"},
            headers=auth(token),
        ),
        client.post(f"{url}/close", headers=auth(token)),
        client.post(f"{url}/reopen", headers=auth(token)),
        client.post(
            f"{url}/snooze",
            json={"until": (datetime.now(UTC) + timedelta(hours=2)).isoformat()},
            headers=auth(token),
        ),
    ]
    for step in steps:
        answer = await step
        assert answer.status_code < 300, answer.text
    now = datetime.now(UTC)
    for body, delay in (
        ("予約した案内", timedelta(minutes=5)),
        ("まだ送らない案内", timedelta(days=3)),
    ):
        scheduled = await client.post(
            f"/api/v1/contacts/{contact_id}/scheduled-messages",
            json={"text": body, "at": (now + delay).isoformat()},
            headers=auth(token),
        )
        assert scheduled.status_code == 201, scheduled.text
    # The first scheduled message goes; every reply fails (no access token), visibly.
    worker = Worker(settings=settings, database=database, bus=InProcessBus())
    await worker.tick(datetime.now(UTC) + timedelta(minutes=10))
    kinds = {
        m["kind"]
        for m in (await client.get(f"{url}/messages", headers=auth(token))).json()["items"]
    }
    assert kinds == {"inbound", "reply", "note", "system"}
    deliveries = list(
        await ctx.db.scalars(
            select(Message.delivery).where(
                Message.conversation_id == conversation_id, Message.kind == "reply"
            )
        )
    )
    await ctx.db.rollback()
    assert deliveries == ["failed", "failed"]
    return conversation_id, contact_id


async def _indexes_are_whole(ctx: Ctx, conversation_id: int, contact_id: int | None) -> None:
    """Nothing of the deleted rows is left in any index (the contact's names, when it went
    too), and SQLite's FTS5 indexes agree with what they were built from (a mismatch raises
    "database disk image is malformed")."""
    if ctx.dialect == "sqlite":
        for table in ("message_search", "contact_search", search.CONVERSATIONS_FTS):
            await ctx.db.execute(
                text(f"INSERT INTO {table}({table}, rank) VALUES ('integrity-check', 1)")
            )
    elif contact_id is not None:
        left = await ctx.db.scalar(
            text("SELECT count(*) FROM contact_search WHERE owner_id = :id"), {"id": contact_id}
        )
        assert left == 0
    assert await search.conversation_entry(ctx.db, conversation_id) is None
    assert await ctx.db.scalar(select(func.count()).select_from(Message)) == 0
    await ctx.db.rollback()


@pytest.mark.parametrize("what", ["conversation", "contact"])
async def test_deleting_a_conversation_or_contact_with_every_kind_of_message(
    what: str,
    client: httpx.AsyncClient,
    ctx: Ctx,
    factory: Factory,
    settings: Settings,
    database: Database,
) -> None:
    token = await factory.token(await factory.member(role="owner", name="店長"))
    conversation_id, contact_id = await _every_kind_of_message(
        client, ctx, factory, settings, database, token
    )
    target = (
        f"/api/v1/conversations/{conversation_id}"
        if what == "conversation"
        else f"/api/v1/contacts/{contact_id}"
    )
    deleted = await client.delete(target, headers=auth(token))
    assert deleted.status_code == 204, deleted.text
    assert (await client.get(target, headers=auth(token))).status_code == 404
    found = await client.get(
        "/api/v1/conversations", params={"q": "永久削除テスト"}, headers=auth(token)
    )
    assert found.json()["items"] == []
    await _indexes_are_whole(ctx, conversation_id, contact_id if what == "contact" else None)

    # The index still works for what comes next.
    fresh = await factory.inbound(await factory.channel(), contact="next", text="永久削除テスト後")
    found = await client.get(
        "/api/v1/conversations", params={"q": "永久削除テスト"}, headers=auth(token)
    )
    assert [item["id"] for item in found.json()["items"]] == [fresh.conversation.id]
