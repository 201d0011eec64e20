"""Route matching that skips the routers a path cannot reach (issue 14: the request floor).

Since FastAPI 0.137, ``include_router`` keeps each router as a node matched lazily: every
request walks the candidates of every router included before the one that answers (about 700
checks for a 404 here, 2 ms, when a bare route answers in 0.05 ms). FastAPI's own fix ("skip
included routers whose prefix cannot match", pull request 16159) is not released. Until it is,
each router the app includes is wrapped in a gate: the static beginnings of its routes' paths
(``/api/v1/conversations/`` of ``/api/v1/conversations/{id}``, a path without parameters
whole), worked out once when it is included. A path that starts with none of them is refused
by one string test, in place of a regular expression per route; any other goes to FastAPI's
own matching, unchanged. The gate is a FastAPI included-router node itself, so the OpenAPI
document and ``url_path_for`` see through it. ``tests/test_routing.py`` checks that every route
of the app is still reached, and bench/ measures the floor.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from fastapi import APIRouter, FastAPI
from fastapi.routing import _EffectiveRouteContext, _IncludedRouter
from starlette.routing import BaseRoute, Match, Mount
from starlette.types import Scope


@dataclass(frozen=True)
class Gate:
    """Where a router's routes can match: whole paths, and beginnings of paths."""

    exact: frozenset[str]
    prefixes: tuple[str, ...]

    def admits(self, path: str) -> bool:
        # A path with a slash too many or too few is tried again without or with it (Starlette's
        # redirect_slashes): the gate sees that path too.
        return path in self.exact or path.startswith(self.prefixes)

    @classmethod
    def of(cls, routes: list[BaseRoute]) -> Gate:
        """From the routes' own paths (and included routers' prefixes): FastAPI's effective
        route contexts are built lazily, on a first request, and stay so."""
        exact: set[str] = set()
        prefixes: set[str] = set()
        for path, mount in _paths(routes, ""):
            if path is None:
                prefixes.add("")  # a route of no path: the gate lets everything through
            elif "{" in path:
                prefixes.add(path[: path.index("{")])
            elif mount:
                prefixes.add(path)
            else:
                exact.add(path)
        return cls(frozenset(exact), tuple(sorted(prefixes)))


def _paths(routes: list[BaseRoute], prefix: str) -> Iterator[tuple[str | None, bool]]:
    """(full path or None, whether it is a mount) of every route, through included routers."""
    for route in routes:
        if isinstance(route, _IncludedRouter):
            inner = prefix + route.include_context.prefix
            yield from _paths(route.original_router.routes, inner)
            continue
        path = getattr(route, "path_format", None) or getattr(route, "path", None)
        yield (prefix + path if isinstance(path, str) else None), isinstance(route, Mount)


@dataclass
class _GatedRouter(_IncludedRouter):
    gate: Gate = field(default_factory=lambda: Gate(frozenset(), ("",)))

    _gated_version: int | None = None

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope["type"] in ("http", "websocket") and not self.gate.admits(_route_path(scope)):
            return Match.NONE, {}
        return super().matches(scope)

    def effective_candidates(self) -> list[_EffectiveRouteContext | _IncludedRouter]:
        """FastAPI's candidates, the routers included in this one gated too (the settings pages
        are a router of routers)."""
        candidates = super().effective_candidates()
        if self._gated_version != self._effective_candidates_version:
            candidates[:] = [
                _GatedRouter(
                    original_router=candidate.original_router,
                    include_context=candidate.include_context,
                    gate=Gate.of([candidate]),
                )
                if type(candidate) is _IncludedRouter
                else candidate
                for candidate in candidates
            ]
            self._gated_version = self._effective_candidates_version
        return candidates


def _route_path(scope: Scope) -> str:
    """The path routes match against (Starlette's: without the root path)."""
    path: str = scope["path"]
    root_path: str = scope.get("root_path", "")
    if root_path and path.startswith(root_path):
        if path == root_path:
            return ""
        if path[len(root_path)] == "/":
            return path[len(root_path) :]
    return path


def include_gated(app: FastAPI, router: APIRouter) -> None:
    """``app.include_router(router)``, behind a gate made from the router's routes as they
    are now (add no route to it afterwards)."""
    app.include_router(router)
    node = app.router.routes[-1]
    assert isinstance(node, _IncludedRouter) and node.original_router is router
    app.router.routes[-1] = _GatedRouter(
        original_router=node.original_router,
        include_context=node.include_context,
        gate=Gate.of([node]),
    )
