"""Managing channels: secrets never come back, the webhook address to paste is shown."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import select

from madoguchi.audit.models import AuditEntry
from madoguchi.kit.context import Ctx
from tests.fixtures import Factory, auth
from tests.ui.settings_support import stored_channel


async def test_create_edit_disable_with_secrets_masked(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    owner_token = await factory.token(await factory.member(role="owner"))
    agent_token = await factory.token(await factory.member(role="agent"))
    body = {
        "kind": "line",
        "name": "公式LINE",
        "settings": {
            "channel_secret": "s3cret",
            "access_token": "tok",
            "api_base": "http://127.0.0.1:9",
        },
    }
    assert (
        await client.post("/api/v1/channels", json=body, headers=auth(agent_token))
    ).status_code == 403
    created = await client.post("/api/v1/channels", json=body, headers=auth(owner_token))
    assert created.status_code == 201
    channel = created.json()
    assert channel["settings"] == {
        "channel_secret": "********",
        "access_token": "********",
        "api_base": "http://127.0.0.1:9",
    }
    assert channel["webhook_url"].endswith(f"/webhooks/line/{channel['id']}")
    assert "s3cret" not in created.text

    kept = await client.patch(
        f"/api/v1/channels/{channel['id']}",
        json={
            "name": "ルミエール公式LINE",
            "settings": {"channel_secret": "********", "access_token": "new"},
        },
        headers=auth(owner_token),
    )
    assert kept.status_code == 200 and kept.json()["name"] == "ルミエール公式LINE"
    listing = (await client.get("/api/v1/channels", headers=auth(owner_token))).json()["items"]
    assert "s3cret" not in str(listing) and "new" not in str(listing)

    bad = await client.patch(
        f"/api/v1/channels/{channel['id']}",
        json={"settings": {"colour": "red"}},
        headers=auth(owner_token),
    )
    assert bad.status_code == 422
    disabled = await client.patch(
        f"/api/v1/channels/{channel['id']}", json={"enabled": False}, headers=auth(owner_token)
    )
    assert disabled.json()["enabled"] is False
    webhook = await client.post(
        f"/webhooks/line/{channel['id']}", content=b"{}", headers={"X-Line-Signature": "x"}
    )
    assert webhook.status_code == 404

    web = await client.post(
        "/api/v1/channels",
        json={"kind": "web", "name": "Web", "settings": {"identity_secret": "k"}},
        headers=auth(owner_token),
    )
    assert (
        web.json()["snippet"]
        == f'<script src="http://127.0.0.1:8000/widget/{web.json()["id"]}.js" async></script>'
    )


async def test_a_deleted_channel_keeps_its_conversations_to_read_but_not_to_answer(
    client: httpx.AsyncClient, factory: Factory, ctx: Ctx
) -> None:
    owner_token = await factory.token(await factory.member(role="owner", name="店長"))
    agent_token = await factory.token(await factory.member(role="agent"))
    channel = await factory.channel(name="予約システム")
    other = await factory.channel(name="別のAPI")
    inbound = await factory.inbound(channel, text="予約できますか")
    conversation_id = inbound.conversation.id

    refused = await client.delete(f"/api/v1/channels/{channel.id}", headers=auth(agent_token))
    assert refused.status_code == 403
    deleted = await client.delete(f"/api/v1/channels/{channel.id}", headers=auth(owner_token))
    assert deleted.status_code == 204

    listed = (await client.get("/api/v1/channels", headers=auth(owner_token))).json()["items"]
    assert [c["id"] for c in listed] == [other.id]
    assert listed[0]["removed_at"] is None
    removed = await client.get("/api/v1/channels?removed=true", headers=auth(owner_token))
    [gone] = removed.json()["items"]
    assert gone["id"] == channel.id and gone["enabled"] is False
    # When it was deleted: now, give or take the test's own run.
    removed_at = datetime.fromisoformat(gone["removed_at"])
    assert abs(removed_at - datetime.now(UTC)) < timedelta(minutes=5)

    # Its conversation is still there to read, marked as no longer answerable.
    messages = await client.get(
        f"/api/v1/conversations/{conversation_id}/messages", headers=auth(owner_token)
    )
    assert [m["text"] for m in messages.json()["items"]] == ["予約できますか"]
    conversation = await client.get(
        f"/api/v1/conversations/{conversation_id}", headers=auth(owner_token)
    )
    assert conversation.json()["channel_id"] == channel.id
    assert conversation.json()["reply_until"].startswith("0001-01-01")
    reply = await client.post(
        f"/api/v1/conversations/{conversation_id}/messages",
        json={"text": "はい", "kind": "reply"},
        headers=auth(owner_token),
    )
    assert reply.status_code == 409
    assert reply.json() == {
        "detail": "This conversation's channel was deleted: it can be read, but no longer answered."
    }
    note = await client.post(
        f"/api/v1/conversations/{conversation_id}/messages",
        json={"text": "削除前のチャネルのお客様", "kind": "note"},
        headers=auth(owner_token),
    )
    assert note.status_code == 201

    # Nothing comes in through it, and it cannot be changed or deleted again.
    posted = await client.post(
        f"/api/v1/channels/{channel.id}/inbound",
        json={"contact": {"external_id": "x"}, "text": "まだ届く？"},
        headers=auth(owner_token),
    )
    assert posted.status_code == 422
    again = await client.patch(
        f"/api/v1/channels/{channel.id}", json={"enabled": True}, headers=auth(owner_token)
    )
    assert again.status_code == 404
    assert again.json() == {"detail": f"No channel with id {channel.id}."}
    twice = await client.delete(f"/api/v1/channels/{channel.id}", headers=auth(owner_token))
    assert twice.status_code == 404

    ctx.db.expire_all()
    entries = await ctx.db.scalars(select(AuditEntry).order_by(AuditEntry.id))
    recorded = [(e.action, e.member_name, e.detail.get("name")) for e in entries]
    await ctx.db.rollback()
    assert ("channel.removed", "店長", "予約システム") in recorded


async def test_a_deleted_channel_forgets_its_secrets(
    client: httpx.AsyncClient, factory: Factory, ctx: Ctx
) -> None:
    owner_token = await factory.token(await factory.member(role="owner"))
    created = await client.post(
        "/api/v1/channels",
        json={
            "kind": "line",
            "name": "公式LINE",
            "settings": {"channel_secret": "s3cret", "access_token": "tok"},
        },
        headers=auth(owner_token),
    )
    channel_id = created.json()["id"]
    await client.delete(f"/api/v1/channels/{channel_id}", headers=auth(owner_token))
    stored = await stored_channel(ctx, channel_id)
    assert stored["settings"] == {} and stored["enabled"] is False
    webhook = await client.post(f"/webhooks/line/{channel_id}", content=b"{}")
    assert webhook.status_code == 404


async def test_a_channel_is_turned_off_and_on_again_through_the_api(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    owner_token = await factory.token(await factory.member(role="owner"))
    channel = await factory.channel()
    off = await client.patch(
        f"/api/v1/channels/{channel.id}", json={"enabled": False}, headers=auth(owner_token)
    )
    assert off.status_code == 200 and off.json()["enabled"] is False
    posted = await client.post(
        f"/api/v1/channels/{channel.id}/inbound",
        json={"contact": {"external_id": "x"}, "text": "届きますか"},
        headers=auth(owner_token),
    )
    assert posted.status_code == 422
    assert posted.json() == {"detail": f"Channel {channel.id} is disabled."}
    on = await client.patch(
        f"/api/v1/channels/{channel.id}", json={"enabled": True}, headers=auth(owner_token)
    )
    assert on.json()["enabled"] is True
    posted = await client.post(
        f"/api/v1/channels/{channel.id}/inbound",
        json={"contact": {"external_id": "x"}, "text": "届きますか"},
        headers=auth(owner_token),
    )
    assert posted.status_code == 201
