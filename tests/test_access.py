"""Who may call what, over the whole API as documented: every operation but the public ones asks
for a member, and a signed-in browser cannot be made to change anything from another site. New
routes are covered as they are added (the list comes from /openapi.json)."""

from __future__ import annotations

import re

import httpx
import pytest

from tests.fixtures import PASSWORD, Factory

# The doors that are open on purpose: signing in and out, channels' webhooks (signed by the
# channel), the web chat (its own visitor tokens) and the health check.
PUBLIC = re.compile(r"^/(api/v1/auth/(login|logout)|webhooks/|widget/|healthz$)")
UNSAFE = ("post", "put", "patch", "delete")


@pytest.fixture
async def operations(client: httpx.AsyncClient) -> list[tuple[str, str]]:
    spec = (await client.get("/openapi.json")).json()
    found = [
        (method, re.sub(r"\{[^}]+\}", "1", path))
        for path, item in spec["paths"].items()
        for method in item
        if method in ("get", *UNSAFE)
    ]
    assert len(found) > 100
    return found


async def test_every_operation_but_the_public_ones_asks_for_a_member(
    client: httpx.AsyncClient, operations: list[tuple[str, str]]
) -> None:
    answered = {
        (method, url): (
            await client.request(method.upper(), url, json={} if method in UNSAFE else None)
        ).status_code
        for method, url in operations
        if not PUBLIC.match(url)
    }
    assert {key: status for key, status in answered.items() if status != 401} == {}
    wrong = {"Authorization": "Bearer not-a-token"}
    for method, url in list(answered)[:: max(1, len(answered) // 25)]:
        refused = await client.request(method.upper(), url, headers=wrong)
        assert refused.status_code == 401, (method, url)


async def test_a_signed_in_browser_changes_nothing_for_another_site(
    client: httpx.AsyncClient, factory: Factory, operations: list[tuple[str, str]]
) -> None:
    member = await factory.member(role="owner")
    signed_in = await client.post(
        "/api/v1/auth/login", json={"email": member.email, "password": PASSWORD}
    )
    assert signed_in.status_code == 200
    for origin in ("https://evil.example", "null"):
        answered = {
            (method, url): (
                await client.request(method.upper(), url, json={}, headers={"Origin": origin})
            ).status_code
            for method, url in operations
            if method in UNSAFE and not PUBLIC.match(url)
        }
        assert {key: status for key, status in answered.items() if status != 403} == {}
    # The same session, from its own pages, is still signed in.
    assert (await client.get("/api/v1/me")).status_code == 200
