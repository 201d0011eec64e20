"""Managing channels: secrets never come back, the webhook address to paste is shown."""

from __future__ import annotations

import httpx

from tests.fixtures import Factory, auth


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
