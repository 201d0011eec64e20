"""The OpenAPI document, with the answers each route can give.

Every refusal the API sends is ``{"detail": "one sentence"}`` (see app.py's handlers), so one
``Error`` schema describes them all. Which statuses an operation documents is worked out from the
route itself, not written by hand on each one:

- what a dependency given to ``install_openapi`` says it refuses for the method and path: the
  member's authentication (members/dependencies.py) answers 401, and 403 when that check can
  refuse it (a cookie from another site, on a change; a member who must first replace a reset
  password, everywhere but the few requests left to them);
- 404 when it has path parameters (an id that is not there, or a path that matches no route);
- 413 when it reads a body, and 400 when that body is a form (a broken multipart upload is
  Starlette's 400; a JSON body that cannot be decoded is a 422 like any malformed JSON, app.py);
- 422 when it takes parameters or a body, or when the NUL check at the door reads its query
  (kit/nul.py);
- and every status of the domain errors (kit/errors.py) its own code, its dependencies and the
  functions they call can raise: a ``Conflict`` in the service behind a route documents 409 on it,
  ``TooManyAttempts`` documents 429 on sign-in, ``BadRequest`` 400 on the webhooks.

A route may still declare more with FastAPI's ``responses=``; those are kept, with the ``Error``
schema on the 4xx ones that have no content of their own, and the success answer's body on a
second success status (200 for a retry that finds what a 201 made).
"""

from __future__ import annotations

import ast
import inspect
import textwrap
from collections.abc import Callable, Iterable, Iterator, Mapping
from functools import cache
from http import HTTPStatus
from typing import Any, Protocol

from fastapi import FastAPI, params, routing
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from madoguchi.kit import nul
from madoguchi.kit.errors import DomainError

# A dependency whose refusals depend on the request's method and path, not on what it raises.
Refusals = Mapping[Callable[..., Any], Callable[[str, str], set[int]]]

ERROR_REF = {"$ref": "#/components/schemas/Error"}
ERROR_SCHEMA: dict[str, Any] = {
    "title": "Error",
    "type": "object",
    "properties": {"detail": {"title": "Detail", "type": "string"}},
    "required": ["detail"],
    "description": 'Every refusal: `{"detail": "one sentence"}` (in English).',
}
DESCRIPTIONS = {
    400: "The body cannot be read (not JSON, or not the shape its sender's format has).",
    401: "Authentication required, or the credentials are wrong.",
    403: "Not allowed: the member's role, the site, or a cross-site request.",
    404: "Nothing with that id (or no such address).",
    409: "Conflicts with what exists (a name already taken, say).",
    413: "The body is too large.",
    422: "The request is not valid: the sentence says what.",
    429: "Too many attempts: try again later.",
}
# What FastAPI writes for its own 422 answer, which this API never sends.
_FASTAPI_VALIDATION = ("HTTPValidationError", "ValidationError")
# Reading the request's body by hand (webhooks check a signature over the raw bytes).
_BODY_READERS = frozenset({"body", "stream", "form", "json"})


def install_openapi(app: FastAPI, *, refusals: Refusals) -> None:
    """Make ``app.openapi()`` (and so ``/openapi.json``) answer the described document: FastAPI
    builds it once (again if routes are added), and each document it builds is described once.
    ``refusals`` names the dependencies whose answers are worked out from the method and path."""
    generate = app.openapi
    described: list[dict[str, Any]] = []

    def build() -> dict[str, Any]:
        schema = generate()
        if not described or described[0] is not schema:
            describe_answers(schema, list(_api_routes(app)), refusals)
            described[:] = [schema]
        return schema

    app.openapi = build  # type: ignore[method-assign]


class RouteLike(Protocol):
    """An ``APIRoute``, or FastAPI's view of one inside an included router."""

    @property
    def path_format(self) -> str: ...

    @property
    def methods(self) -> set[str]: ...

    @property
    def dependant(self) -> Dependant: ...

    @property
    def endpoint(self) -> Callable[..., Any]: ...


def _api_routes(app: FastAPI) -> Iterator[RouteLike]:
    """The app's API routes that the document shows, with their full paths."""
    # Newer FastAPI keeps included routers whole and walks them with route contexts.
    contexts = getattr(routing, "iter_route_contexts", None)
    routes: Iterable[Any] = contexts(app.routes) if contexts is not None else app.routes
    for route in routes:
        original = getattr(route, "original_route", route)
        if isinstance(original, APIRoute) and getattr(route, "include_in_schema", False):
            yield route


def describe_answers(
    schema: dict[str, Any], routes: list[RouteLike], refusals: Refusals
) -> dict[str, Any]:
    """The schema (changed in place) with each operation's error answers documented."""
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components["Error"] = ERROR_SCHEMA
    for route in routes:
        item = schema.get("paths", {}).get(route.path_format, {})
        for method in route.methods:
            operation = item.get(method.lower())
            if operation is not None:
                _describe(operation, error_statuses(route, method, refusals))
    for name in _FASTAPI_VALIDATION:
        if name in components and not _referenced(schema, f"#/components/schemas/{name}"):
            del components[name]
    return schema


def error_statuses(route: RouteLike, method: str, refusals: Refusals) -> set[int]:
    """Every 4xx status ``method`` on ``route`` can answer."""
    statuses: set[int] = set()
    dependant = route.dependant
    has_body = dependant.body_params or _reads_body(route.endpoint)
    if dependant.path_params:
        statuses.add(404)
    if has_body:
        statuses.add(413)
    if any(isinstance(param.field_info, params.Form) for param in dependant.body_params):
        # Starlette's answer to a multipart form it cannot parse (File is a Form).
        statuses.add(400)
    parameters = (
        dependant.path_params
        or dependant.query_params
        or dependant.header_params
        or dependant.cookie_params
    )
    # The NUL check at the door (kit/nul.py) reads every query string outside the paths it
    # leaves alone, whether the route takes a query or not.
    if parameters or has_body or not route.path_format.startswith(nul._LEFT_ALONE):
        statuses.add(422)
    for call in _calls(dependant):
        if call in refusals:
            statuses |= refusals[call](method, route.path_format)
        else:
            statuses |= raised_statuses(call)
    return statuses


def _calls(dependant: Dependant) -> Iterator[Callable[..., Any]]:
    """The endpoint and every dependency it runs (theirs included)."""
    if dependant.call is not None:
        yield dependant.call
    for sub in dependant.dependencies:
        yield from _calls(sub)


def _describe(operation: dict[str, Any], statuses: set[int]) -> None:
    responses: dict[str, Any] = operation.setdefault("responses", {})
    for status in sorted(statuses):
        answer = responses.setdefault(str(status), {})
        answer.setdefault("description", DESCRIPTIONS.get(status, HTTPStatus(status).phrase))
        # FastAPI's own 422 (a list of errors) is replaced: the API answers one sentence.
        answer["content"] = {"application/json": {"schema": ERROR_REF}}
    success = next(
        (
            answer["content"]
            for code, answer in sorted(responses.items())
            if _is_success(code) and "content" in answer
        ),
        None,
    )
    for code, answer in responses.items():
        if code.isdigit() and 400 <= int(code) < 500 and "content" not in answer:
            answer["content"] = {"application/json": {"schema": ERROR_REF}}
        elif _is_success(code) and code != "204" and "content" not in answer and success:
            answer["content"] = success
    operation["responses"] = dict(sorted(responses.items()))


def _is_success(code: str) -> bool:
    return code.isdigit() and 200 <= int(code) < 300


def _referenced(value: Any, ref: str) -> bool:
    if isinstance(value, dict):
        if value.get("$ref") == ref:
            return True
        return any(_referenced(item, ref) for key, item in value.items() if key != "components")
    if isinstance(value, list):
        return any(_referenced(item, ref) for item in value)
    return False


# --- what a function can raise ----------------------------------------------------------------


def raised_statuses(function: Callable[..., Any]) -> set[int]:
    """The statuses of the domain errors ``function`` and the project's functions it calls can
    raise (as far as they can be seen by name: calls on objects are not followed)."""
    found: set[int] = set()
    _walk(_own(function), found, set())
    return found


def _walk(function: Callable[..., Any] | None, found: set[int], seen: set[Any]) -> None:
    if function is None or function in seen:
        return
    seen.add(function)
    tree = _tree(function)
    if tree is None:
        return
    namespace = getattr(function, "__globals__", {})
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            target = _resolve(node.func, namespace)
        elif isinstance(node, ast.Raise) and node.exc is not None:
            target = _resolve(node.exc, namespace)
        else:
            continue
        # A domain error made here (raised, or kept to raise), or one of the module's own.
        if isinstance(target, DomainError) or (
            isinstance(target, type) and issubclass(target, DomainError)
        ):
            found.add(target.status_code)
        else:
            _walk(_own(target), found, seen)


def _own(target: Any) -> Callable[..., Any] | None:
    """The project's plain function behind ``target`` (a method, a wrapped function), if any."""
    target = getattr(target, "__func__", target)
    if not inspect.isfunction(target):
        return None
    target = inspect.unwrap(target)
    module = getattr(target, "__module__", "") or ""
    return target if module.startswith("madoguchi.") else None


@cache
def _tree(function: Callable[..., Any]) -> ast.AST | None:
    try:
        source = inspect.getsource(function)
    except (OSError, TypeError):
        return None
    return ast.parse(textwrap.dedent(source))


def _resolve(node: ast.expr, namespace: dict[str, Any]) -> Any:
    """What a name or a dotted name refers to in a module's namespace (None if unknown)."""
    if isinstance(node, ast.Name):
        return namespace.get(node.id)
    if isinstance(node, ast.Attribute):
        base = _resolve(node.value, namespace)
        if base is None or not (inspect.ismodule(base) or inspect.isclass(base)):
            return None
        return (
            inspect.getattr_static(base, node.attr, None)
            if inspect.isclass(base)
            else (getattr(base, node.attr, None))
        )
    return None


def _reads_body(endpoint: Callable[..., Any]) -> bool:
    """Whether the endpoint reads the raw body itself (``await request.body()``)."""
    tree = _tree(inspect.unwrap(endpoint))
    return tree is not None and any(
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in _BODY_READERS
        and isinstance(node.func.value, ast.Name)
        and node.func.value.id == "request"
        for node in ast.walk(tree)
    )
