from __future__ import annotations

import httpx

from tests.fixtures import PASSWORD, Factory
from tests.ui.conftest import HTML, HTMX, sign_in


async def test_login_page_is_japanese_by_default(client: httpx.AsyncClient) -> None:
    response = await client.get("/login")
    assert response.status_code == 200
    assert '<html lang="ja">' in response.text
    assert "ログイン" in response.text
    assert "メールアドレス" in response.text and "パスワード" in response.text
    assert "default-src 'self'" in response.headers["content-security-policy"]


async def test_signing_in_opens_the_page_asked_for(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    member = await factory.member()
    response = await client.post(
        "/login", data={"email": member.email, "password": PASSWORD, "next": "/settings"}
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/settings"
    assert "madoguchi_session" in response.headers["set-cookie"]
    assert "httponly" in response.headers["set-cookie"].lower()
    page = await client.get("/settings", headers=HTML)
    assert page.status_code == 200
    assert member.email in page.text


async def test_next_is_only_followed_to_a_path_on_this_site(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    member = await factory.member()
    for target in ("//evil.example/x", "https://evil.example/", "/\\evil.example", "javascript:x"):
        response = await client.post(
            "/login", data={"email": member.email, "password": PASSWORD, "next": target}
        )
        assert response.headers["location"] == "/", target


async def test_a_signed_in_member_visiting_login_goes_on(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    await sign_in(client, await factory.member())
    response = await client.get("/login?next=/settings")
    assert response.status_code == 303
    assert response.headers["location"] == "/settings"


async def test_wrong_password_is_told_in_the_page(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    member = await factory.member()
    response = await client.post(
        "/login", data={"email": member.email, "password": "wrong password", "next": "/"}
    )
    assert response.status_code == 401
    assert "メールアドレスまたはパスワードが正しくありません。" in response.text
    assert f'value="{member.email}"' in response.text  # what was typed stays
    assert "set-cookie" not in response.headers


async def test_repeated_failures_lock_signing_in_for_a_while(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    member = await factory.member()
    for _ in range(5):
        await client.post("/login", data={"email": member.email, "password": "nope"})
    # Even the right password is refused while locked.
    response = await client.post("/login", data={"email": member.email, "password": PASSWORD})
    assert response.status_code == 429
    assert "一時的にロックしています" in response.text


async def test_a_signed_out_browser_is_sent_to_login_and_back(client: httpx.AsyncClient) -> None:
    for path in ("/", "/c/7", "/settings"):
        response = await client.get(path, headers=HTML)
        assert response.status_code == 303
        assert response.headers["location"] == f"/login?next={path}"


async def test_a_fragment_request_without_a_session_answers_401(client: httpx.AsyncClient) -> None:
    response = await client.get("/ui/list", headers={**HTML, **HTMX})
    assert response.status_code == 401


async def test_signing_out_ends_the_session(client: httpx.AsyncClient, factory: Factory) -> None:
    await sign_in(client, await factory.member())
    response = await client.post("/logout")
    assert response.status_code == 303
    assert response.headers["location"] == "/login"
    client.cookies.clear()
    assert (await client.get("/", headers=HTML)).status_code == 303


async def test_the_session_is_gone_on_the_server_after_signing_out(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    await sign_in(client, await factory.member())
    secret = client.cookies["madoguchi_session"]
    await client.post("/logout")
    client.cookies.set("madoguchi_session", secret)
    assert (await client.get("/", headers=HTML)).status_code == 303


async def test_a_login_posted_from_another_site_is_refused(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    member = await factory.member()
    response = await client.post(
        "/login",
        data={"email": member.email, "password": PASSWORD},
        headers={"Origin": "https://evil.example"},
    )
    assert response.status_code == 403
