"""Every operation /openapi.json documents, under schemathesis: no answer is a 5xx, and each one
has a documented status, content type and body.

Reproducible: Hypothesis is derandomized and the database starts from the same rows each run.
Every case carries one owner's token, which no case may revoke, deactivate, demote or reset; the
run fails loudly if that owner loses their access anyway, or if an operation only ever met a 401
(checked at the door, never past it).
"""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import Case
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.python.asgi import shutdown_lifespans
from schemathesis.schemas import APIOperation
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from madoguchi.app import create_app
from madoguchi.config import Settings
from tests.fixtures import Factory, auth

# Per operation: ~115 operations take well under a minute on SQLite on two cores. A deeper run
# by hand: MADOGUCHI_FUZZ_EXAMPLES=200 pytest tests/test_api_fuzz.py -s
MAX_EXAMPLES = int(os.environ.get("MADOGUCHI_FUZZ_EXAMPLES", "20"))
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
CHANNEL_KINDS = ("api", "web", "line", "instagram")


@dataclass
class Run:
    cases: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    # Per operation: the statuses it answered, to tell a checked operation from one that only
    # ever met a 401.
    answered: dict[str, Counter[int]] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Fuzzer:
    """The owner whose token every case carries."""

    member_id: int
    token: str
    token_id: int


@pytest.fixture
async def fuzzer(factory: Factory, client: httpx.AsyncClient) -> Fuzzer:
    owner = await factory.member(role="owner")
    token = await factory.token(owner)
    [own] = (await client.get("/api/v1/tokens", headers=auth(token))).json()["items"]
    return Fuzzer(member_id=owner.id, token=token, token_id=own["id"])


@pytest.fixture
def owner_token(fuzzer: Fuzzer) -> str:
    return fuzzer.token


@pytest.fixture
async def known(
    factory: Factory, client: httpx.AsyncClient, owner_token: str
) -> dict[str, int | str]:
    """One thing of each kind, made through the API, by the name its id has in paths: half of
    the generated cases ask for these, so answers other than 404 are checked too."""
    headers = auth(owner_token)

    async def made(path: str, body: dict[str, Any]) -> dict[str, Any]:
        response = await client.post(f"/api/v1{path}", json=body, headers=headers)
        assert response.status_code in (200, 201), response.text
        answer: dict[str, Any] = response.json()
        return answer

    channels = {kind: await factory.channel(kind=kind, name=kind) for kind in CHANNEL_KINDS}
    inbound = await made(
        f"/channels/{channels['api'].id}/inbound",
        {
            "contact": {"external_id": "c-1", "name": "山田 花子"},
            "external_id": "m-1",
            "text": "予約",
        },
    )
    conversation_id = inbound["conversation_id"]
    conversation = await client.get(f"/api/v1/conversations/{conversation_id}", headers=headers)
    contact = conversation.json()["contact_id"]
    reply = await made(
        f"/conversations/{conversation_id}/messages", {"text": "承知しました", "kind": "reply"}
    )
    tag_folder = await made("/tag-folders", {"name": "顧客"})
    tag = await made("/tags", {"name": "VIP", "folder": tag_folder["id"]})
    book = await made(
        "/record-books",
        {"name": "来店", "fields": [{"key": "note", "label": "備考", "type": "text"}]},
    )
    colleague = await factory.member(role="agent")
    # Revoked by the run instead of the owner's own token.
    spare_token = await made("/tokens", {"name": "連携テスト"})
    statuses = (await client.get("/api/v1/statuses", headers=headers)).json()["items"]
    marks = (await client.get("/api/v1/marks", headers=headers)).json()["items"]
    return {
        "conversation_id": conversation_id,
        "member_id": colleague.id,
        "token_id": spare_token["id"],
        "contact_id": contact,
        "message_id": reply["id"],
        "status_id": statuses[0]["id"],
        "mark_id": marks[0]["id"],
        "tag_id": tag["id"],
        "tag_folder_id": tag_folder["id"],
        "field_folder_id": (await made("/field-folders", {"name": "基本"}))["id"],
        "field_id": (await made("/fields", {"key": "plan", "label": "プラン", "type": "text"}))[
            "id"
        ],
        "key": "plan",
        "memo_id": (await made(f"/contacts/{contact}/memos", {"title": "好み", "body": "窓側"}))[
            "id"
        ],
        "book_id": book["id"],
        "record_id": (
            await made(
                f"/contacts/{contact}/records",
                {"book": book["id"], "at": "2024-05-01T10:00:00", "values": {"note": "初回"}},
            )
        )["id"],
        "template_id": (await made("/templates", {"name": "挨拶", "text": "{name} 様"}))["id"],
        "action_id": (
            await made(
                "/actions", {"name": "VIP", "steps": [{"type": "add_tags", "tag_ids": [tag["id"]]}]}
            )
        )["id"],
        "conversation_tag_id": (await made("/conversation-tags", {"name": "解決"}))["id"],
        "scheduled_id": (
            await made(
                f"/contacts/{contact}/scheduled-messages",
                {"text": "明日の件", "at": "2099-01-01T10:00:00"},
            )
        )["id"],
        **{f"{kind}_channel_id": channel.id for kind, channel in channels.items()},
    }


def _known_path(operation: APIOperation, known: dict[str, int | str]) -> dict[str, int | str]:
    """The known ids for the operation's path parameters (a folder or a tag of the right kind)."""
    path = operation.path
    chosen: dict[str, int | str] = {}
    for parameter in operation.path_parameters:
        name = parameter.name
        if name == "channel_id":
            kind = next((k for k in CHANNEL_KINDS if f"/{k}/" in path), "api")
            kind = "web" if path.startswith("/widget/") else kind
            name = f"{kind}_channel_id"
        elif name == "folder_id":
            name = "field_folder_id" if "/field-folders/" in path else "tag_folder_id"
        elif name == "tag_id" and path.startswith("/api/v1/conversation-tags/"):
            name = "conversation_tag_id"
        if name in known:
            chosen[parameter.name] = known[name]
    return chosen


# What would take the fuzzing owner's own access away (deactivate or demote them, reset their
# password, revoke their token) and turn every later case into a 401, checking nothing: these
# operations are tried on everyone and everything else.
_OWN_ACCESS = {
    ("PATCH", "/api/v1/members/{member_id}"): "member_id",
    ("POST", "/api/v1/members/{member_id}/password-reset"): "member_id",
    ("DELETE", "/api/v1/tokens/{token_id}"): "token_id",
}


def _spares_the_fuzzer(operation: APIOperation, fuzzer: Fuzzer) -> Callable[[Case], bool]:
    name = _OWN_ACCESS.get((operation.method.upper(), operation.path))
    own = {"member_id": fuzzer.member_id, "token_id": fuzzer.token_id}

    def spares(case: Case) -> bool:
        value = (case.path_parameters or {}).get(name) if name else None
        return value is None or str(value) != str(own[name or ""])

    return spares


def _exercise(
    operation: APIOperation,
    headers: dict[str, str],
    known: dict[str, int | str],
    fuzzer: Fuzzer,
    run: Run,
) -> None:
    cases = operation.as_strategy()
    path = _known_path(operation, known)
    if path:
        cases = st.one_of(cases, operation.as_strategy(path_parameters=path))
    cases = cases.filter(_spares_the_fuzzer(operation, fuzzer))
    answered = run.answered.setdefault(operation.label, Counter())

    @settings(
        max_examples=MAX_EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        # A failure is reported as found: shrinking it would call the API again many times.
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=cases)
    def call(case: Case) -> None:
        response = case.call(headers=headers)
        run.cases += 1
        run.statuses[response.status_code] += 1
        answered[response.status_code] += 1
        case.validate_response(response, checks=CHECKS, headers=headers)

    try:
        call()
    # Every operation is tried, and every failure reported (schemathesis raises its findings as
    # a group, which is not an Exception).
    except (Exception, FailureGroup) as failure:
        run.failures.append(f"{operation.label}:\n{failure}")


def _deletions_last(operation: APIOperation) -> tuple[bool, int]:
    return operation.method == "delete", -len(operation.path_parameters)


def test_every_documented_operation_answers_as_documented(
    settings: Settings, fuzzer: Fuzzer, known: dict[str, int | str]
) -> None:
    app = create_app(settings)
    headers = auth(fuzzer.token)
    started = time.monotonic()
    locked_out = None
    try:
        schema = schemathesis.openapi.from_asgi("/openapi.json", app)
        operations = [result.ok() for result in schema.get_all_operations()]
        me = schema["/api/v1/me"]["GET"]
        run = Run()
        # Deletions last, so the known things are there for every other operation; a contact's
        # memo before the contact.
        for operation in sorted(operations, key=_deletions_last):
            _exercise(operation, headers, known, fuzzer, run)
            # Still the owner it was: otherwise every case after this one is a 401.
            still = me.Case().call(headers=headers)
            if still.status_code != 200 or still.json()["role"] != "owner":
                locked_out = f"after {operation.label}: GET /api/v1/me {still.status_code}"
                break
    finally:
        shutdown_lifespans()
    took = time.monotonic() - started
    print(
        f"schemathesis: {run.cases} cases over {len(operations)} operations in {took:.1f} s; "
        f"statuses {dict(sorted(run.statuses.items()))}; {len(run.failures)} failing operations"
    )
    assert locked_out is None, f"the fuzzing owner lost their access {locked_out}"
    assert len(operations) > 100
    assert not run.failures, "\n\n".join(run.failures)
    # Each operation was checked past the door, not only refused at it.
    only_refused = sorted(label for label, seen in run.answered.items() if not set(seen) - {401})
    assert not only_refused, f"only 401s from: {only_refused}"


def test_the_run_never_takes_the_fuzzing_owners_own_access_away(settings: Settings) -> None:
    fuzzer = Fuzzer(member_id=3, token="mdg_x", token_id=7)
    try:
        schema = schemathesis.openapi.from_asgi("/openapi.json", create_app(settings))
        revoke = schema["/api/v1/tokens/{token_id}"]["DELETE"]
        change = schema["/api/v1/members/{member_id}"]["PATCH"]
        reset = schema["/api/v1/members/{member_id}/password-reset"]["POST"]
        contact = schema["/api/v1/contacts/{contact_id}"]["GET"]
        cases = [
            (revoke, {"token_id": 7}, False),
            (revoke, {"token_id": 3}, True),
            (change, {"member_id": 3}, False),
            (change, {"member_id": 7}, True),
            (reset, {"member_id": 3}, False),
            (contact, {"contact_id": 3}, True),
        ]
        for operation, path, spared in cases:
            case = operation.Case(path_parameters=path)
            assert _spares_the_fuzzer(operation, fuzzer)(case) is spared, (operation.label, path)
    finally:
        shutdown_lifespans()
