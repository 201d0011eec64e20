"""The OpenAPI document describes the answers the API gives: one error model, and each status
a route can give (the whole API is checked against it in test_api_fuzz.py)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from madoguchi.app import create_app
from madoguchi.channels import service as channels
from madoguchi.config import Settings
from tests.fixtures import Factory, auth

ERROR = {"$ref": "#/components/schemas/Error"}


@pytest.fixture
async def document(client: httpx.AsyncClient) -> dict[str, Any]:
    response = await client.get("/openapi.json")
    assert response.status_code == 200
    schema: dict[str, Any] = response.json()
    return schema


def _statuses(document: dict[str, Any], method: str, path: str) -> set[int]:
    return {int(code) for code in document["paths"][path][method]["responses"]}


def _operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method, path, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
    ]


async def test_every_refusal_is_documented_as_one_sentence(document: dict[str, Any]) -> None:
    error = document["components"]["schemas"]["Error"]
    assert error["properties"] == {"detail": {"title": "Detail", "type": "string"}}
    assert error["required"] == ["detail"]
    # FastAPI's list of validation errors is never sent, so it is not described.
    assert "HTTPValidationError" not in document["components"]["schemas"]
    for method, path, operation in _operations(document):
        for code, answer in operation["responses"].items():
            if code.startswith("4"):
                assert answer["content"]["application/json"]["schema"] == ERROR, (
                    method,
                    path,
                    code,
                )


async def test_routes_behind_a_member_document_401_and_changes_403(
    document: dict[str, Any],
) -> None:
    assert {401, 403}.isdisjoint(_statuses(document, "get", "/healthz"))
    assert 401 in _statuses(document, "get", "/api/v1/me")
    # A GET never meets the cross-site check, and /me refuses no role.
    assert 403 not in _statuses(document, "get", "/api/v1/me")
    assert {401, 403} <= _statuses(document, "patch", "/api/v1/me")
    # Only owners and admins read the audit log.
    assert 403 in _statuses(document, "get", "/api/v1/audit")
    for method, path, operation in _operations(document):
        if path.startswith("/api/v1/") and not path.startswith("/api/v1/auth/"):
            assert "401" in operation["responses"], (method, path)


async def test_statuses_follow_from_the_route_and_what_its_service_raises(
    document: dict[str, Any],
) -> None:
    assert _statuses(document, "post", "/api/v1/statuses") == {201, 401, 403, 409, 413, 422}
    assert _statuses(document, "delete", "/api/v1/records/{record_id}") == {
        204,
        401,
        403,
        404,
        422,
    }
    assert _statuses(document, "post", "/api/v1/auth/login") == {200, 401, 413, 422, 429}
    # A broken multipart form is Starlette's 400.
    assert 400 in _statuses(document, "post", "/api/v1/files")
    assert {409} <= _statuses(
        document, "post", "/api/v1/conversations/{conversation_id}/become-assignee"
    )
    assert {400, 401, 404, 413} <= _statuses(document, "post", "/webhooks/line/{channel_id}")
    # Read by a member whose password was reset: 403 until they choose a new one; a NUL
    # character in any query is refused at the door (422).
    assert _statuses(document, "get", "/api/v1/members") == {200, 401, 403, 422}


async def test_a_refusal_reads_as_documented(
    client: httpx.AsyncClient, factory: Factory, document: dict[str, Any]
) -> None:
    token = await factory.token(await factory.member(role="agent"))
    cases = [
        ("get", "/api/v1/conversations/{conversation_id}", "/api/v1/conversations/abc", 422),
        ("get", "/api/v1/conversations/{conversation_id}", "/api/v1/conversations/99", 404),
        ("post", "/api/v1/statuses", "/api/v1/statuses", 403),
        ("get", "/api/v1/me", "/api/v1/me?x=%00", 422),
    ]
    for method, documented, path, status in cases:
        response = await client.request(method, path, json={"name": "x"}, headers=auth(token))
        assert response.status_code == status
        assert status in _statuses(document, method, documented)
        assert list(response.json()) == ["detail"]
        assert isinstance(response.json()["detail"], str)
    # JSON that is not even text (not UTF-8) is malformed JSON: 422, as docs/api.md says, and
    # not FastAPI's own 400 "There was an error parsing the body".
    for content_type in ("application/json", "application/merge-patch+json; charset=utf-8"):
        undecodable = await client.post(
            "/api/v1/statuses",
            content=b'{"name": "\xff"}',
            headers={**auth(token), "Content-Type": content_type},
        )
        assert undecodable.status_code == 422, content_type
        assert undecodable.json() == {"detail": "The request body is not valid JSON."}
    assert 400 not in _statuses(document, "post", "/api/v1/statuses")
    # A broken multipart form stays a 400, documented on the upload.
    broken = await client.post(
        "/api/v1/files",
        content=b"--x\r\nContent-Disposition: form-data; name=file\r\n",
        headers={**auth(token), "Content-Type": "multipart/form-data"},
    )
    assert broken.status_code == 400, broken.text
    assert 400 in _statuses(document, "post", "/api/v1/files")
    assert isinstance(broken.json()["detail"], str)


async def test_a_retried_web_chat_message_and_an_unavailable_database_are_documented(
    client: httpx.AsyncClient, factory: Factory, document: dict[str, Any], monkeypatch: Any
) -> None:
    channel = await channels.create_channel(
        factory.ctx, kind="web", name="Web", settings={"allowed_origins": "https://a.example"}
    )
    origin = {"Origin": "https://a.example"}
    started = await client.post(f"/widget/{channel.id}/session", json={}, headers=origin)
    headers = {**origin, "X-Visitor-Token": started.json()["visitor_token"]}
    url = f"/widget/{channel.id}/messages"
    body = {"text": "こんにちは", "client_id": "c-000001"}
    first = await client.post(url, json=body, headers=headers)
    again = await client.post(url, json=body, headers=headers)
    assert (first.status_code, again.status_code) == (201, 200)
    answers = document["paths"]["/widget/{channel_id}/messages"]["post"]["responses"]
    assert {"200", "201"} <= set(answers)
    assert answers["200"]["content"] == answers["201"]["content"]

    async def no_database(*_args: Any, **_kwargs: Any) -> Any:
        raise OSError("the database is gone")

    # The health check's query fails as it would with the database down.
    monkeypatch.setattr("madoguchi.kit.db.Database.ping", no_database)
    down = await client.get("/healthz")
    assert down.status_code == 503 and down.json() == {"status": "unavailable"}
    unavailable = document["paths"]["/healthz"]["get"]["responses"]["503"]
    schema = unavailable["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
    described = document["components"]["schemas"][schema]
    assert described["required"] == ["status"]
    assert described["properties"]["status"]["const"] == "unavailable"


def test_the_document_is_built_once(settings: Settings) -> None:
    app = create_app(settings)
    assert app.openapi() is app.openapi()
