"""The gates in front of the app's routers (kit.routing) skip only what cannot match: every
route is still chosen for its own paths, exactly as FastAPI chooses without gates."""

from __future__ import annotations

import inspect
import re
from pathlib import Path
from typing import Any

import pytest
from fastapi.routing import APIRoute, iter_route_contexts
from starlette.routing import Match

from madoguchi.app import create_app
from madoguchi.config import Settings
from madoguchi.kit import routing
from madoguchi.kit.routing import Gate, _GatedRouter


def _sample(path: str) -> str:
    return re.sub(r"\{[^}]*\}", "1", path)


def _scope(path: str, method: str, kind: str = "http") -> dict[str, Any]:
    return {"type": kind, "path": path, "root_path": "", "method": method, "headers": []}


def _chosen(app: Any, scope: dict[str, Any]) -> tuple[int, Any] | None:
    """The top-level route that answers, and for an included router the route inside it."""
    for index, route in enumerate(app.router.routes):
        match, _ = route.matches(scope)
        if match == Match.FULL:
            while isinstance(route, _GatedRouter):  # down to the route inside
                _, _, route, _ = route._match(scope)
            return index, getattr(route, "endpoint", route)
    return None


def test_every_route_is_chosen_for_its_paths_as_without_gates(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = create_app(Settings(_env_file=None, data_dir=tmp_path, database_url=None))  # type: ignore[call-arg]
    assert sum(isinstance(route, _GatedRouter) for route in app.router.routes) >= 15
    cases = []
    for context in iter_route_contexts(app.routes):
        path = context.path_format or context.path
        if not isinstance(path, str):
            continue
        kind = "websocket" if "WebSocket" in type(context.original_route).__name__ else "http"
        methods = sorted(context.methods or {"GET"})
        cases.append((_sample(path), methods[0], kind, context.endpoint or context.original_route))
    assert len(cases) > 300
    gated = [_chosen(app, _scope(path, method, kind)) for path, method, kind, _ in cases]
    for (path, method, _, endpoint), chosen in zip(cases, gated, strict=True):
        assert chosen is not None and chosen[1] == endpoint, (method, path)
    # The same choices with every gate open: the gates changed nothing but the time.
    monkeypatch.setattr(routing.Gate, "admits", lambda self, path: True)
    open_gates = [_chosen(app, _scope(path, method, kind)) for path, method, kind, _ in cases]
    assert gated == open_gates


def test_a_gate_admits_its_routes_paths_and_nothing_else() -> None:
    gate = Gate(frozenset({"/settings/rules"}), ("/settings/rules/",))
    assert gate.admits("/settings/rules")
    assert gate.admits("/settings/rules/5/update")
    assert not gate.admits("/settings/rule")
    assert not gate.admits("/settings/rulesx")
    assert not gate.admits("/api/v1/rules")


def test_a_path_no_route_has_passes_no_gate(tmp_path: Path) -> None:
    """The floor's cause (issue 14): a 404, /healthz or a static file walked every router."""
    app = create_app(Settings(_env_file=None, data_dir=tmp_path, database_url=None))  # type: ignore[call-arg]
    gates = [route.gate for route in app.router.routes if isinstance(route, _GatedRouter)]
    for path in ("/nope", "/healthz", "/static/favicon.svg", "/api/v1/nothing"):
        assert not any(gate.admits(path) for gate in gates), path


def _plain_functions(dependant: Any) -> list[str]:
    found = []
    for dependency in dependant.dependencies:
        call = dependency.call
        if call is not None and not (
            inspect.iscoroutinefunction(call) or inspect.isasyncgenfunction(call)
        ):
            found.append(getattr(call, "__qualname__", repr(call)))
        found += _plain_functions(dependency)
    return found


def test_no_route_or_dependency_is_run_in_the_thread_pool(tmp_path: Path) -> None:
    """FastAPI runs a plain ``def`` endpoint or dependency in a thread of its pool: a trip per
    request (the list's query parameters, a plain function, cost ~0.5 ms of each page)."""
    app = create_app(Settings(_env_file=None, data_dir=tmp_path, database_url=None))  # type: ignore[call-arg]
    plain = []
    routes = 0
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        if not isinstance(route, APIRoute):
            continue
        routes += 1
        if not inspect.iscoroutinefunction(route.endpoint):
            plain.append(f"{route.path}: {route.endpoint.__qualname__}")
        plain += [f"{route.path}: {name}" for name in _plain_functions(route.dependant)]
    assert routes > 300
    assert plain == []
