"""Headers on every answer: nosniff everywhere, no-store wherever customers' data may be, and the
API reference served from this server under the pages' CSP."""

from __future__ import annotations

import httpx
import pytest

from madoguchi.app import STATIC_DIR, create_app
from madoguchi.config import Settings
from madoguchi.members import service as members
from madoguchi.ui import inbox as inbox_ui
from madoguchi.ui.render import CONTENT_SECURITY_POLICY
from tests.fixtures import Factory, auth


async def test_api_answers_are_never_stored_and_never_sniffed(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    token = await factory.token(await factory.member())
    channel = await factory.channel()
    await factory.inbound(channel)
    for answer in (
        await client.get("/api/v1/conversations", headers=auth(token)),
        await client.get("/api/v1/contacts", headers=auth(token)),
        await client.get("/api/v1/me"),  # a refusal too
        await client.post("/api/v1/contacts", content=b"x" * (2 * 1024 * 1024)),  # 413
        await client.get("/openapi.json"),
    ):
        assert answer.headers["cache-control"] == "no-store", answer.request.url
        assert answer.headers["x-content-type-options"] == "nosniff", answer.request.url


async def test_staff_pages_and_fragments_are_not_stored(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    token = await factory.token(await factory.member())
    for path in ("/", "/contacts"):
        answer = await client.get(path, headers=auth(token))
        assert answer.status_code == 200
        assert answer.headers["cache-control"] == "no-store"
        assert answer.headers["x-content-type-options"] == "nosniff"
    login = await client.get("/login")
    assert login.headers["cache-control"] == "no-store"


async def test_an_unexpected_error_is_never_stored_or_sniffed_either(
    settings: Settings, factory: Factory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The catch-all 500 answer is made outside every middleware (Starlette's
    ServerErrorMiddleware), DefaultHeaders included: it carries the headers itself."""
    token = await factory.token(await factory.member())

    async def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(members, "list_members", broken)
    monkeypatch.setattr(inbox_ui, "_list_page", broken)
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            api = await client.get("/api/v1/members", headers=auth(token))
            fragment = await client.get("/ui/list", headers={**auth(token), "HX-Request": "true"})
            page = await client.get("/", headers={**auth(token), "Accept": "text/html"})
    assert api.json() == {"detail": "Internal server error."}
    assert fragment.text == "問題が発生しました。もう一度お試しください。"
    assert "問題が発生しました" in page.text
    for answer in (api, fragment, page):
        assert answer.status_code == 500, answer.request.url
        assert answer.headers["cache-control"] == "no-store", answer.request.url
        assert answer.headers["x-content-type-options"] == "nosniff", answer.request.url


async def test_static_files_stay_cacheable_and_routes_keep_their_own_cache_rules(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    icon = await client.get("/static/favicon.svg")
    assert icon.status_code == 200
    assert "cache-control" not in icon.headers
    assert icon.headers["x-content-type-options"] == "nosniff"
    web = await factory.channel(kind="web", name="Web")
    script = await client.get(f"/widget/{web.id}.js")
    assert script.status_code == 200
    assert script.headers["cache-control"] == "public, max-age=300"
    assert script.headers["x-content-type-options"] == "nosniff"


async def test_docs_is_swagger_ui_from_this_server_under_the_csp(
    client: httpx.AsyncClient,
) -> None:
    docs = await client.get("/docs")
    assert docs.status_code == 200
    assert docs.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    page = docs.text
    assert "<script>" not in page and "cdn" not in page.lower()
    assert 'src="/static/vendor/swagger-ui-bundle.js"' in page
    assert 'href="/static/vendor/swagger-ui.css"' in page
    assert 'src="/static/js/swagger-init.js"' in page
    assert (STATIC_DIR / "js" / "swagger-init.js").is_file()
    # ReDoc would load its script from a CDN: it is not served.
    assert (await client.get("/redoc")).status_code == 404
