"""Signing in, the session cookie, tokens, and personal settings."""

from __future__ import annotations

import hashlib

import httpx
from sqlalchemy import select

from madoguchi.kit.context import Ctx
from madoguchi.members import service as members
from madoguchi.members.models import ApiToken
from tests.fixtures import PASSWORD, Factory, auth


async def test_login_sets_a_session_cookie_that_authenticates(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    member = await factory.member(role="owner", name="店長")
    response = await client.post(
        "/api/v1/auth/login", json={"email": member.email.upper(), "password": PASSWORD}
    )
    assert response.status_code == 200
    assert response.json()["name"] == "店長"
    cookie = response.cookies.get("madoguchi_session")
    assert cookie
    me = await client.get("/api/v1/me")
    assert me.status_code == 200 and me.json()["id"] == member.id

    logout = await client.post("/api/v1/auth/logout")
    assert logout.status_code == 204
    client.cookies.set("madoguchi_session", cookie)
    assert (await client.get("/api/v1/me")).status_code == 401


async def test_wrong_password_is_401_and_repeated_failures_lock_for_a_while(
    client: httpx.AsyncClient, factory: Factory, ctx: Ctx
) -> None:
    member = await factory.member()
    for _ in range(5):
        wrong = await client.post(
            "/api/v1/auth/login", json={"email": member.email, "password": "wrong password"}
        )
        assert wrong.status_code == 401
        assert wrong.json() == {"detail": "The e-mail or password is wrong."}
    locked = await client.post(
        "/api/v1/auth/login", json={"email": member.email, "password": PASSWORD}
    )
    assert locked.status_code == 429
    assert "Too many failed sign-ins" in locked.json()["detail"]


async def test_failures_from_one_address_lock_it_for_every_account(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    member = await factory.member()
    # Colleagues share the shop's address: a few mistakes between them lock nobody out.
    for n in range(5):
        await client.post(
            "/api/v1/auth/login", json={"email": f"typo{n}@example.com", "password": "guess"}
        )
    ok = await client.post("/api/v1/auth/login", json={"email": member.email, "password": PASSWORD})
    assert ok.status_code == 200
    for n in range(15):
        await client.post(
            "/api/v1/auth/login", json={"email": f"nobody{n}@example.com", "password": "guess"}
        )
    locked = await client.post(
        "/api/v1/auth/login", json={"email": member.email, "password": PASSWORD}
    )
    assert locked.status_code == 429


async def test_login_with_unknown_email_or_bad_body(client: httpx.AsyncClient) -> None:
    unknown = await client.post(
        "/api/v1/auth/login", json={"email": "ghost@example.com", "password": "whatever"}
    )
    assert unknown.status_code == 401
    missing = await client.post("/api/v1/auth/login", json={"email": "x@example.com"})
    assert missing.status_code == 422 and "password" in missing.json()["detail"]


async def test_token_is_stored_only_as_a_hash(
    client: httpx.AsyncClient, factory: Factory, ctx: Ctx
) -> None:
    member = await factory.member()
    token = await factory.token(member)
    [row] = list(await ctx.db.scalars(select(ApiToken)))
    assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert token not in (row.token_hash, row.name)
    assert (await client.get("/api/v1/me", headers=auth(token))).json()["email"] == member.email


async def test_me_settings_update_and_validation(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    member = await factory.member()
    token = await factory.token(member)
    updated = await client.patch(
        "/api/v1/me", json={"send_shortcut": "mod_enter", "language": "en"}, headers=auth(token)
    )
    assert updated.status_code == 200
    assert updated.json()["send_shortcut"] == "mod_enter" and updated.json()["language"] == "en"
    again = (await client.get("/api/v1/me", headers=auth(token))).json()
    assert again["send_shortcut"] == "mod_enter"
    bad = await client.patch("/api/v1/me", json={"language": "fr"}, headers=auth(token))
    assert bad.status_code == 422


async def test_members_list_and_create_by_role(client: httpx.AsyncClient, factory: Factory) -> None:
    owner = await factory.member(role="owner")
    agent = await factory.member(role="agent")
    owner_token, agent_token = await factory.token(owner), await factory.token(agent)
    listing = (await client.get("/api/v1/members", headers=auth(agent_token))).json()
    assert [m["id"] for m in listing["items"]] == [owner.id, agent.id]
    assert all("password_hash" not in m for m in listing["items"])

    body = {
        "email": "new@example.com",
        "name": "新人",
        "role": "agent",
        "password": "a long password",
    }
    forbidden = await client.post("/api/v1/members", json=body, headers=auth(agent_token))
    assert forbidden.status_code == 403
    created = await client.post("/api/v1/members", json=body, headers=auth(owner_token))
    assert created.status_code == 201 and created.json()["email"] == "new@example.com"
    duplicate = await client.post("/api/v1/members", json=body, headers=auth(owner_token))
    assert duplicate.status_code == 409
    login = await client.post(
        "/api/v1/auth/login", json={"email": "new@example.com", "password": "a long password"}
    )
    assert login.status_code == 200


async def test_cookie_authenticated_change_from_another_site_is_refused(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    member = await factory.member()
    await client.post("/api/v1/auth/login", json={"email": member.email, "password": PASSWORD})
    forged = await client.patch(
        "/api/v1/me", json={"language": "en"}, headers={"Origin": "https://evil.example"}
    )
    assert forged.status_code == 403
    same = await client.patch(
        "/api/v1/me", json={"language": "en"}, headers={"Origin": "http://testserver"}
    )
    assert same.status_code == 200


async def test_create_member_validates(ctx: Ctx) -> None:
    import pytest

    from madoguchi.kit.errors import Invalid

    for kwargs in (
        {"email": "not-an-email", "name": "x", "role": "agent", "password": PASSWORD},
        {"email": "a@example.com", "name": " ", "role": "agent", "password": PASSWORD},
        {"email": "a@example.com", "name": "x", "role": "boss", "password": PASSWORD},
        {"email": "a@example.com", "name": "x", "role": "agent", "password": "short"},
    ):
        with pytest.raises(Invalid):
            await members.create_member(ctx, **kwargs)  # type: ignore[arg-type]
