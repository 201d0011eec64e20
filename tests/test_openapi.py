"""The OpenAPI document describes the answers the API gives: one error model, and each status
a route can give (the whole API is checked against it in test_api_fuzz.py)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from madoguchi.app import create_app
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
    assert _statuses(document, "post", "/api/v1/statuses") == {
        201,
        400,
        401,
        403,
        409,
        413,
        422,
    }
    assert _statuses(document, "delete", "/api/v1/records/{record_id}") == {
        204,
        401,
        403,
        404,
        422,
    }
    assert _statuses(document, "post", "/api/v1/auth/login") == {200, 400, 401, 413, 422, 429}
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
    # A body FastAPI cannot decode: its own 400, in the same shape.
    undecodable = await client.post(
        "/api/v1/statuses",
        content=b'{"name": "\xff"}',
        headers={**auth(token), "Content-Type": "application/json"},
    )
    assert undecodable.status_code == 400
    assert 400 in _statuses(document, "post", "/api/v1/statuses")
    assert isinstance(undecodable.json()["detail"], str)


def test_the_document_is_built_once(settings: Settings) -> None:
    app = create_app(settings)
    assert app.openapi() is app.openapi()
