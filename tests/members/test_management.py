"""Managing members and API tokens through the API: roles, deactivation (sessions, tokens and
live connections stop at once), password resets that must be changed at the next sign-in, a
member's own password, and named tokens that are listed without secrets and revoked."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import httpx
import pytest
import websockets
from sqlalchemy import select, update

from madoguchi.audit.models import AuditEntry
from madoguchi.kit.context import Ctx
from madoguchi.kit.db import utcnow
from madoguchi.members.models import ApiToken, Member
from tests.conftest import LiveServer
from tests.fixtures import PASSWORD, Factory, auth


async def login(client: httpx.AsyncClient, member: Member, password: str = PASSWORD) -> str:
    response = await client.post(
        "/api/v1/auth/login", json={"email": member.email, "password": password}
    )
    assert response.status_code == 200, response.text
    cookie: str = response.cookies["madoguchi_session"]
    return cookie


def session(cookie: str) -> dict[str, str]:
    """A session cookie sent by hand (the client's own jar is not used)."""
    return {"Cookie": f"madoguchi_session={cookie}"}


async def audit_actions(ctx: Ctx) -> list[tuple[str, str, dict[str, Any]]]:
    ctx.db.expire_all()
    try:
        entries = await ctx.db.scalars(select(AuditEntry).order_by(AuditEntry.id))
        return [(e.action, e.member_name, dict(e.detail)) for e in entries]
    finally:
        await ctx.db.rollback()


# --- roles ----------------------------------------------------------------------------------


async def test_an_owner_changes_a_role_and_a_name_and_both_are_in_the_audit_log(
    client: httpx.AsyncClient, factory: Factory, ctx: Ctx
) -> None:
    owner = await factory.member(role="owner", name="店長")
    agent = await factory.member(role="agent", name="美咲")
    token = await factory.token(owner)
    response = await client.patch(
        f"/api/v1/members/{agent.id}",
        json={"role": "admin", "name": "佐藤 美咲"},
        headers=auth(token),
    )
    assert response.status_code == 200, response.text
    assert response.json()["role"] == "admin" and response.json()["name"] == "佐藤 美咲"
    listed = (await client.get("/api/v1/members", headers=auth(token))).json()["items"]
    assert {m["id"]: m["role"] for m in listed}[agent.id] == "admin"
    actions = await audit_actions(ctx)
    assert ("member.renamed", "店長", {"name": "佐藤 美咲", "before": "美咲"}) in actions
    assert (
        "member.role_changed",
        "店長",
        {"name": "佐藤 美咲", "role": "admin", "before": "agent"},
    ) in actions


async def test_an_admin_may_not_make_an_owner_nor_change_one(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    owner = await factory.member(role="owner")
    admin = await factory.member(role="admin")
    agent = await factory.member(role="agent")
    token = await factory.token(admin)

    promote = await client.patch(
        f"/api/v1/members/{agent.id}", json={"role": "owner"}, headers=auth(token)
    )
    assert promote.status_code == 403
    assert promote.json() == {"detail": "Only an owner can make someone an owner."}
    for body in ({"active": False}, {"role": "agent"}, {"name": "別名"}):
        refused = await client.patch(f"/api/v1/members/{owner.id}", json=body, headers=auth(token))
        assert refused.status_code == 403
        assert refused.json() == {"detail": "Only an owner can change an owner."}
    reset = await client.post(f"/api/v1/members/{owner.id}/password-reset", headers=auth(token))
    assert reset.status_code == 403
    # An admin manages admins and agents.
    ok = await client.patch(
        f"/api/v1/members/{agent.id}", json={"role": "admin"}, headers=auth(token)
    )
    assert ok.status_code == 200


async def test_an_agent_manages_no_one(client: httpx.AsyncClient, factory: Factory) -> None:
    agent = await factory.member(role="agent")
    other = await factory.member(role="agent")
    token = await factory.token(agent)
    for response in (
        await client.patch(f"/api/v1/members/{other.id}", json={"name": "x"}, headers=auth(token)),
        await client.patch(
            f"/api/v1/members/{agent.id}", json={"role": "admin"}, headers=auth(token)
        ),
        await client.post(f"/api/v1/members/{other.id}/password-reset", headers=auth(token)),
    ):
        assert response.status_code == 403
        assert response.json() == {"detail": "Only owners and admins can manage other members."}


async def test_bad_member_changes_are_clear_4xx(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    owner = await factory.member(role="owner")
    token = await factory.token(owner)
    missing = await client.patch("/api/v1/members/999", json={"name": "x"}, headers=auth(token))
    assert missing.status_code == 404 and missing.json() == {"detail": "No member with id 999."}
    bad_role = await client.patch(
        f"/api/v1/members/{owner.id}", json={"role": "king"}, headers=auth(token)
    )
    assert bad_role.status_code == 422 and "role" in bad_role.json()["detail"]
    empty_name = await client.patch(
        f"/api/v1/members/{owner.id}", json={"name": "  "}, headers=auth(token)
    )
    assert empty_name.status_code == 422
    assert empty_name.json() == {"detail": "A member's name must be 1 to 100 characters."}
    unknown = await client.patch(
        f"/api/v1/members/{owner.id}", json={"email": "x@example.com"}, headers=auth(token)
    )
    assert unknown.status_code == 422


async def test_the_last_active_owner_can_be_neither_demoted_nor_deactivated(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    owner = await factory.member(role="owner")
    token = await factory.token(owner)
    sentence = "The workspace needs at least one active owner: make another member owner first."
    for body in ({"role": "admin"}, {"active": False}):
        refused = await client.patch(f"/api/v1/members/{owner.id}", json=body, headers=auth(token))
        assert refused.status_code == 409
        assert refused.json() == {"detail": sentence}
    assert (await client.get("/api/v1/me", headers=auth(token))).json()["role"] == "owner"

    # A deactivated owner does not count; another active owner does.
    second = await factory.member(role="owner")
    off = await client.patch(
        f"/api/v1/members/{second.id}", json={"active": False}, headers=auth(token)
    )
    assert off.status_code == 200
    again = await client.patch(
        f"/api/v1/members/{owner.id}", json={"role": "admin"}, headers=auth(token)
    )
    assert again.status_code == 409
    await client.patch(f"/api/v1/members/{second.id}", json={"active": True}, headers=auth(token))
    stepped_down = await client.patch(
        f"/api/v1/members/{owner.id}", json={"role": "admin"}, headers=auth(token)
    )
    assert stepped_down.status_code == 200 and stepped_down.json()["role"] == "admin"


async def test_two_owners_demoting_each_other_at_once_leave_one_owner(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    first = await factory.member(role="owner")
    second = await factory.member(role="owner")
    first_token, second_token = await factory.token(first), await factory.token(second)
    answers = await asyncio.gather(
        client.patch(
            f"/api/v1/members/{second.id}", json={"role": "agent"}, headers=auth(first_token)
        ),
        client.patch(
            f"/api/v1/members/{first.id}", json={"role": "agent"}, headers=auth(second_token)
        ),
    )
    assert sorted(a.status_code for a in answers) in ([200, 409], [200, 403])
    listed = (await client.get("/api/v1/members", headers=auth(first_token))).json()["items"]
    if not any(m["role"] == "owner" for m in listed):
        pytest.fail(f"no owner left: {listed}")


# --- deactivating -------------------------------------------------------------------------


async def test_deactivated_sessions_and_tokens_answer_401_and_messages_keep_their_name(
    client: httpx.AsyncClient, factory: Factory, ctx: Ctx
) -> None:
    owner = await factory.member(role="owner", name="店長")
    agent = await factory.member(role="agent", name="美咲")
    owner_token, agent_token = await factory.token(owner), await factory.token(agent)
    channel = await factory.channel()
    inbound = await factory.inbound(channel)
    conversation_id = inbound.conversation.id
    reply = await client.post(
        f"/api/v1/conversations/{conversation_id}/messages",
        json={"text": "承知しました", "kind": "reply"},
        headers=auth(agent_token),
    )
    assert reply.status_code == 201
    cookie = await login(client, agent)
    client.cookies.clear()
    assert (await client.get("/api/v1/me", headers=session(cookie))).status_code == 200

    off = await client.patch(
        f"/api/v1/members/{agent.id}", json={"active": False}, headers=auth(owner_token)
    )
    assert off.status_code == 200 and off.json()["active"] is False
    assert (await client.get("/api/v1/me", headers=session(cookie))).status_code == 401
    assert (await client.get("/api/v1/me", headers=auth(agent_token))).status_code == 401
    signin = await client.post(
        "/api/v1/auth/login", json={"email": agent.email, "password": PASSWORD}
    )
    assert signin.status_code == 401

    messages = await client.get(
        f"/api/v1/conversations/{conversation_id}/messages", headers=auth(owner_token)
    )
    [sent] = [m for m in messages.json()["items"] if m["kind"] == "reply"]
    assert sent["sender_member_id"] == agent.id
    listed = (await client.get("/api/v1/members", headers=auth(owner_token))).json()["items"]
    assert {m["id"]: (m["name"], m["active"]) for m in listed}[agent.id] == ("美咲", False)

    # Reactivated: they sign in again; their tokens work again (revoke them to end them).
    on = await client.patch(
        f"/api/v1/members/{agent.id}", json={"active": True}, headers=auth(owner_token)
    )
    assert on.status_code == 200 and on.json()["active"] is True
    assert (await client.get("/api/v1/me", headers=session(cookie))).status_code == 401
    await login(client, agent)
    assert (await client.get("/api/v1/me", headers=auth(agent_token))).status_code == 200
    actions = [action for action, _who, _detail in await audit_actions(ctx)]
    assert "member.deactivated" in actions and "member.reactivated" in actions


def ws_url(server: LiveServer) -> str:
    return server.url.replace("http://", "ws://") + "/ws"


async def test_a_deactivated_members_open_websocket_closes(
    live_server: LiveServer, factory: Factory
) -> None:
    owner = await factory.member(role="owner")
    agent = await factory.member(role="agent")
    owner_token, agent_token = await factory.token(owner), await factory.token(agent)
    async with (
        websockets.connect(ws_url(live_server), additional_headers=auth(agent_token)) as agent_ws,
        websockets.connect(ws_url(live_server), additional_headers=auth(owner_token)) as owner_ws,
        httpx.AsyncClient(base_url=live_server.url, headers=auth(owner_token)) as http,
    ):
        assert '"ready"' in await asyncio.wait_for(agent_ws.recv(), 5)
        assert '"ready"' in await asyncio.wait_for(owner_ws.recv(), 5)
        off = await http.patch(f"/api/v1/members/{agent.id}", json={"active": False})
        assert off.status_code == 200
        with pytest.raises(websockets.exceptions.ConnectionClosed) as closed:
            while True:
                await asyncio.wait_for(agent_ws.recv(), 5)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008
        # Everyone else stays connected.
        added = await http.post("/api/v1/channels", json={"kind": "api", "name": "予約"})
        assert added.status_code == 201
        heard = await asyncio.wait_for(owner_ws.recv(), 5)
        assert '"channel.created"' in heard
    with pytest.raises(websockets.exceptions.InvalidStatus):
        async with websockets.connect(ws_url(live_server), additional_headers=auth(agent_token)):
            pass


async def test_a_websocket_opened_with_a_revoked_token_closes(
    live_server: LiveServer, factory: Factory
) -> None:
    member = await factory.member(role="agent")
    keep, revoke = await factory.token(member), await factory.token(member)
    async with (
        websockets.connect(ws_url(live_server), additional_headers=auth(revoke)) as live,
        httpx.AsyncClient(base_url=live_server.url, headers=auth(keep)) as http,
    ):
        assert '"ready"' in await asyncio.wait_for(live.recv(), 5)
        [_, revoked] = (await http.get("/api/v1/tokens")).json()["items"]
        assert (await http.delete(f"/api/v1/tokens/{revoked['id']}")).status_code == 204
        with pytest.raises(websockets.exceptions.ConnectionClosed):
            while True:
                await asyncio.wait_for(live.recv(), 5)
    with pytest.raises(websockets.exceptions.InvalidStatus):
        async with websockets.connect(ws_url(live_server), additional_headers=auth(revoke)):
            pass
    async with websockets.connect(ws_url(live_server), additional_headers=auth(keep)) as again:
        assert '"ready"' in await asyncio.wait_for(again.recv(), 5)


# --- passwords ------------------------------------------------------------------------------


async def test_a_reset_password_signs_the_member_out_and_must_be_changed_at_the_next_sign_in(
    client: httpx.AsyncClient, factory: Factory, ctx: Ctx
) -> None:
    owner = await factory.member(role="owner", name="店長")
    agent = await factory.member(role="agent", name="美咲")
    owner_token = await factory.token(owner)
    old_cookie = await login(client, agent)
    client.cookies.clear()

    reset = await client.post(
        f"/api/v1/members/{agent.id}/password-reset", headers=auth(owner_token)
    )
    assert reset.status_code == 200
    assert reset.headers["cache-control"] == "no-store"
    one_time = reset.json()["password"]
    assert len(one_time) >= 8
    assert (await client.get("/api/v1/me", headers=session(old_cookie))).status_code == 401
    old = await client.post("/api/v1/auth/login", json={"email": agent.email, "password": PASSWORD})
    assert old.status_code == 401

    signed_in = await client.post(
        "/api/v1/auth/login", json={"email": agent.email, "password": one_time}
    )
    assert signed_in.status_code == 200 and signed_in.json()["password_must_change"] is True
    me = await client.get("/api/v1/me")
    assert me.status_code == 200 and me.json()["password_must_change"] is True
    blocked = await client.get("/api/v1/conversations")
    assert blocked.status_code == 403
    assert blocked.json() == {
        "detail": "Your password was reset: choose a new one first (POST /api/v1/me/password)."
    }

    changed = await client.post(
        "/api/v1/me/password", json={"current": one_time, "new": "my own secret phrase"}
    )
    assert changed.status_code == 204
    assert (await client.get("/api/v1/conversations")).status_code == 200
    assert (await client.get("/api/v1/me")).json()["password_must_change"] is False
    client.cookies.clear()
    await login(client, agent, "my own secret phrase")
    actions = [(action, who) for action, who, _detail in await audit_actions(ctx)]
    assert ("member.password_reset", "店長") in actions
    assert ("member.password_changed", "美咲") in actions


async def test_a_member_changes_their_own_password_with_the_current_one(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    member = await factory.member(role="agent")
    other_device = await login(client, member)
    client.cookies.clear()
    await login(client, member)

    wrong = await client.post(
        "/api/v1/me/password", json={"current": "not it at all", "new": "a brand new one"}
    )
    assert wrong.status_code == 422
    assert wrong.json() == {"detail": "The current password is wrong."}
    short = await client.post("/api/v1/me/password", json={"current": PASSWORD, "new": "short"})
    assert short.status_code == 422
    assert short.json() == {"detail": "The password must be at least 8 characters."}
    same = await client.post("/api/v1/me/password", json={"current": PASSWORD, "new": PASSWORD})
    assert same.status_code == 422

    changed = await client.post(
        "/api/v1/me/password", json={"current": PASSWORD, "new": "a brand new one"}
    )
    assert changed.status_code == 204
    # This session goes on; the one on the other device ends.
    assert (await client.get("/api/v1/me")).status_code == 200
    assert (await client.get("/api/v1/me", headers=session(other_device))).status_code == 401
    client.cookies.clear()
    await login(client, member, "a brand new one")


async def test_guessing_the_current_password_is_locked_out_like_signing_in(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    member = await factory.member()
    token = await factory.token(member)
    for _ in range(5):
        wrong = await client.post(
            "/api/v1/me/password",
            json={"current": "a guess", "new": "a brand new one"},
            headers=auth(token),
        )
        assert wrong.status_code == 422
    locked = await client.post(
        "/api/v1/me/password",
        json={"current": PASSWORD, "new": "a brand new one"},
        headers=auth(token),
    )
    assert locked.status_code == 429


async def test_an_owner_cannot_reset_their_own_password(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    owner = await factory.member(role="owner")
    token = await factory.token(owner)
    response = await client.post(f"/api/v1/members/{owner.id}/password-reset", headers=auth(token))
    assert response.status_code == 422
    assert response.json() == {"detail": "Change your own password with your current one instead."}


# --- tokens ---------------------------------------------------------------------------------


async def test_a_named_token_is_shown_once_listed_without_its_secret_and_revoked(
    client: httpx.AsyncClient, factory: Factory, ctx: Ctx
) -> None:
    member = await factory.member(role="agent", name="美咲")
    first = await factory.token(member)
    created = await client.post(
        "/api/v1/tokens", json={"name": "予約システム"}, headers=auth(first)
    )
    assert created.status_code == 201
    assert created.headers["cache-control"] == "no-store"
    body = created.json()
    assert set(body) >= {"id", "name", "token"} and body["name"] == "予約システム"
    secret = body["token"]
    assert (await client.get("/api/v1/me", headers=auth(secret))).status_code == 200

    listed = await client.get("/api/v1/tokens", headers=auth(first))
    items = listed.json()["items"]
    assert [item["name"] for item in items] == ["madoguchi token create", "予約システム"]
    assert secret not in listed.text and first not in listed.text
    new = next(item for item in items if item["id"] == body["id"])
    assert set(new) >= {"id", "name", "created_at", "last_used_at"}
    assert new["last_used_at"] is not None  # used above

    revoked = await client.delete(f"/api/v1/tokens/{body['id']}", headers=auth(first))
    assert revoked.status_code == 204
    assert (await client.get("/api/v1/me", headers=auth(secret))).status_code == 401
    assert (await client.delete(f"/api/v1/tokens/{body['id']}", headers=auth(first))).json() == {
        "detail": f"No API token with id {body['id']}."
    }
    actions = [(action, detail.get("name")) for action, _w, detail in await audit_actions(ctx)]
    assert ("token.created", "予約システム") in actions
    assert ("token.revoked", "予約システム") in actions


async def test_a_token_needs_a_name(client: httpx.AsyncClient, factory: Factory) -> None:
    token = await factory.token(await factory.member())
    response = await client.post("/api/v1/tokens", json={"name": ""}, headers=auth(token))
    assert response.status_code == 422 and "name" in response.json()["detail"]
    # Blank is no name either, whatever the door.
    blank = await client.post("/api/v1/tokens", json={"name": "   "}, headers=auth(token))
    assert blank.status_code == 422
    assert blank.json()["detail"] == (
        "A token needs a name saying what it is for (1 to 100 characters)."
    )
    listed = await client.get("/api/v1/tokens", headers=auth(token))
    assert [t["name"] for t in listed.json()["items"]] == ["madoguchi token create"]


async def test_last_used_is_noted_at_most_once_a_minute(
    client: httpx.AsyncClient, factory: Factory, ctx: Ctx
) -> None:
    member = await factory.member()
    token = await factory.token(member)

    async def last_used() -> Any:
        ctx.db.expire_all()
        try:
            return await ctx.db.scalar(select(ApiToken.last_used_at))
        finally:
            await ctx.db.rollback()

    assert await last_used() is None
    await client.get("/api/v1/me", headers=auth(token))
    first = await last_used()
    assert first is not None and utcnow() - first < timedelta(seconds=30)
    await client.patch("/api/v1/me", json={}, headers=auth(token))  # a writer's request too
    await client.get("/api/v1/me", headers=auth(token))
    assert await last_used() == first

    earlier = first - timedelta(minutes=2)
    await ctx.db.execute(update(ApiToken).values(last_used_at=earlier))
    await ctx.db.commit()
    await client.patch("/api/v1/me", json={}, headers=auth(token))
    assert await last_used() > first


async def test_who_may_see_and_revoke_whose_tokens(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    owner = await factory.member(role="owner", name="店長")
    admin = await factory.member(role="admin", name="管理")
    agent = await factory.member(role="agent", name="美咲")
    owner_token = await factory.token(owner)
    admin_token = await factory.token(admin)
    agent_token = await factory.token(agent)

    def ids(response: httpx.Response) -> list[int]:
        assert response.status_code == 200, response.text
        return [item["member_id"] for item in response.json()["items"]]

    assert ids(await client.get("/api/v1/tokens", headers=auth(agent_token))) == [agent.id]
    everyone = await client.get("/api/v1/tokens?all=true", headers=auth(admin_token))
    assert ids(everyone) == [owner.id, admin.id, agent.id]
    assert all("token" not in item for item in everyone.json()["items"])
    agents = await client.get(f"/api/v1/tokens?member_id={agent.id}", headers=auth(owner_token))
    assert ids(agents) == [agent.id]
    refused = await client.get("/api/v1/tokens?all=true", headers=auth(agent_token))
    assert refused.status_code == 403
    assert refused.json() == {"detail": "Only owners and admins can see other members' tokens."}

    [owner_row, admin_row, agent_row] = everyone.json()["items"]
    # An agent is not told about others' tokens; an admin may not touch an owner's.
    hidden = await client.delete(f"/api/v1/tokens/{admin_row['id']}", headers=auth(agent_token))
    assert hidden.status_code == 404
    protected = await client.delete(f"/api/v1/tokens/{owner_row['id']}", headers=auth(admin_token))
    assert protected.status_code == 403
    assert protected.json() == {"detail": "Only an owner can change an owner."}
    done = await client.delete(f"/api/v1/tokens/{agent_row['id']}", headers=auth(admin_token))
    assert done.status_code == 204
    assert (await client.get("/api/v1/me", headers=auth(agent_token))).status_code == 401
    assert (await client.get("/api/v1/me", headers=auth(owner_token))).status_code == 200


async def test_a_member_whose_password_was_reset_gets_no_live_connection(
    live_server: LiveServer, factory: Factory
) -> None:
    owner_token = await factory.token(await factory.member(role="owner"))
    agent = await factory.member(role="agent")
    agent_token = await factory.token(agent)
    async with httpx.AsyncClient(base_url=live_server.url) as http:
        reset = await http.post(
            f"/api/v1/members/{agent.id}/password-reset", headers=auth(owner_token)
        )
        assert reset.status_code == 200
    # Refused at the handshake, as for no member at all.
    with pytest.raises(websockets.exceptions.InvalidStatus) as refused:
        async with websockets.connect(ws_url(live_server), additional_headers=auth(agent_token)):
            pass
    assert refused.value.response.status_code == 403


async def test_many_tokens_used_at_once_for_the_first_time_all_get_in(
    client: httpx.AsyncClient, factory: Factory, ctx: Ctx
) -> None:
    # More first uses at once than the database pool has connections (5 + 10): each request
    # holds one while its token's use is noted, which must not wait for another of that pool.
    member = await factory.member()
    tokens = [await factory.token(member) for _ in range(40)]
    await ctx.db.commit()
    answers = await asyncio.gather(
        *(client.get("/api/v1/conversations", headers=auth(token)) for token in tokens)
    )
    assert [answer.status_code for answer in answers] == [200] * len(tokens)
    used = await ctx.db.scalars(select(ApiToken.last_used_at))
    assert all(at is not None for at in used)
