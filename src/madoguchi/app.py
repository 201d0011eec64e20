"""The ASGI application: the JSON API, the staff UI, the live WebSocket and the public faces."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import quote

from fastapi import FastAPI, Request, WebSocket, WebSocketDisconnect
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from pydantic import BaseModel
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException as StarletteHTTPException

from madoguchi import __version__
from madoguchi.audit.api import router as audit_router
from madoguchi.automation.api import router as automation_router
from madoguchi.broadcasts.api import broadcasts_router, sequences_router
from madoguchi.broadcasts.api import public_router as unsubscribe_router
from madoguchi.broadcasts.api import router as segments_router
from madoguchi.channels.api import router as channels_router
from madoguchi.config import Settings, get_settings
from madoguchi.connectors import email
from madoguchi.connectors.adapters import ROUTERS as CHANNEL_ROUTERS
from madoguchi.connectors.intake import Intake
from madoguchi.contacts import reading as readings
from madoguchi.contacts.api import router as contacts_router
from madoguchi.conversations.api import router as conversations_router
from madoguchi.crm.api import router as crm_router
from madoguchi.events import BusUnavailable, create_bus
from madoguchi.events.types import MemberSignedOut
from madoguchi.files import service as files
from madoguchi.files.api import router as files_router
from madoguchi.forms.api import router as forms_router
from madoguchi.jobs import Worker
from madoguchi.kit import security
from madoguchi.kit.apidocs import swagger_page
from madoguchi.kit.collector import freeze_held
from madoguchi.kit.db import Database, utcnow
from madoguchi.kit.errors import DomainError, Invalid
from madoguchi.kit.headers import DefaultHeaders, add_defaults
from madoguchi.kit.i18n import gettext_for
from madoguchi.kit.limits import Caps, LimitBodies
from madoguchi.kit.logs import redact_secrets_in_logs
from madoguchi.kit.nul import RefuseNul
from madoguchi.kit.openapi import install_openapi
from madoguchi.kit.proxies import TrustedProxies
from madoguchi.kit.routing import include_gated
from madoguchi.kit.static import KeptStaticFiles
from madoguchi.kit.web import NOT_JSON, Runtime, describe_invalid, refused, runtime_of
from madoguchi.members.api import router as members_router
from madoguchi.members.dependencies import (
    current_member,
    member_refusals,
    token_or_member,
    websocket_member,
)
from madoguchi.notifications import push
from madoguchi.notifications.api import router as notifications_router
from madoguchi.stats.api import router as stats_router
from madoguchi.ui import router as ui_router
from madoguchi.ui.present import safe_next
from madoguchi.ui.render import PAGE_HEADERS, error_text, render
from madoguchi.ui.settings_transfer import MAX_REQUEST_BYTES as MAX_IMPORT_BYTES
from madoguchi.workspace.api import router as workspace_router

log = logging.getLogger(__name__)
STATIC_DIR = Path(__file__).resolve().parent / "static"


class Healthy(BaseModel):
    status: Literal["ok"]


class Unavailable(BaseModel):
    status: Literal["unavailable"]


def create_app(settings: Settings | None = None, *, freeze_start: bool = False) -> FastAPI:
    """The app; ``freeze_start``: the process serves it alone (``madoguchi serve``), and what it
    holds once started is frozen out of the garbage collector's walks (``_warm``)."""
    settings = settings or get_settings()
    redact_secrets_in_logs()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # SQLite's log copied into the database file by a task of its own (kit.db.Database),
        # not by whichever request's commit crosses SQLite's threshold.
        database = Database(settings.sqlalchemy_url, checkpoints_apart=True)
        # Planner statistics, so the lists walk the right indexes from the first request (on
        # PostgreSQL, those of tables that have none: autovacuum keeps the others').
        await database.analyze(missing_only=True)
        # Web Push's VAPID key, made at the first start and kept in the database.
        await push.make_vapid_key(database)
        bus = create_bus(settings)
        await bus.start()
        app.state.runtime = Runtime(settings=settings, database=database, bus=bus)
        app.state.intake = intake = Intake(database=database, bus=bus, settings=settings)
        # The reading dictionary loads in about two seconds: meanwhile, not on a first message.
        warming = asyncio.create_task(_warm(freeze=freeze_start))
        stop = asyncio.Event()
        worker = Worker(settings=settings, database=database, bus=bus)
        worker_task = asyncio.create_task(worker.run(stop)) if settings.worker else None
        checkpoints = asyncio.create_task(database.keep_checkpointing(stop))
        try:
            async with contextlib.AsyncExitStack() as listeners:
                if settings.smtp_listen:
                    await listeners.enter_async_context(
                        email.listening(worker.ctx, settings.smtp_listen)
                    )
                yield
        finally:
            stop.set()
            await intake.close()
            if worker_task is not None:
                await worker_task
            await checkpoints
            await bus.close()
            await database.dispose()
            await warming

    app = FastAPI(
        title="Madoguchi",
        version=__version__,
        description="Multi-channel 1:1 chat inbox with a customer CRM.",
        lifespan=lifespan,
        # /docs is served below from vendored files; ReDoc would load its script from a CDN.
        docs_url=None,
        redoc_url=None,
    )
    install_openapi(
        app, refusals={current_member: member_refusals, token_or_member: member_refusals}
    )
    _install_error_handlers(app)
    app.add_middleware(RefuseNul, language=settings.default_language)
    # Outside RefuseNul, which reads bodies whole: a body is bounded before anyone reads it.
    caps = Caps.of(
        settings,
        image=files.MAX_IMAGE_BYTES,
        images_per_template=files.MAX_IMAGES,
        import_form=MAX_IMPORT_BYTES,
    )
    app.add_middleware(LimitBodies, caps=caps, language=settings.default_language)
    app.add_middleware(DefaultHeaders)
    # Outermost: everything after it sees the client behind a trusted proxy.
    app.add_middleware(TrustedProxies, trusted=settings.trusted_proxies)
    # Each router behind a gate (kit.routing): a path none of its routes can match skips it at
    # once, so the static files and /healthz, after them all, cost a string test per router.
    include_gated(app, members_router)
    include_gated(app, conversations_router)
    include_gated(app, contacts_router)
    include_gated(app, channels_router)
    include_gated(app, crm_router)
    include_gated(app, automation_router)
    include_gated(app, segments_router)
    include_gated(app, broadcasts_router)
    include_gated(app, sequences_router)
    include_gated(app, unsubscribe_router)
    include_gated(app, forms_router)
    include_gated(app, notifications_router)
    include_gated(app, workspace_router)
    include_gated(app, stats_router)
    include_gated(app, audit_router)
    include_gated(app, files_router)
    for channel_router in CHANNEL_ROUTERS.values():
        include_gated(app, channel_router)  # each kind's webhooks (or widget) in
    include_gated(app, ui_router)
    # After the pages: /static/modules/… are the UI's own scripts, not files.
    app.mount("/static", KeptStaticFiles(directory=STATIC_DIR), name="static")

    @app.get("/docs", include_in_schema=False)
    async def api_docs() -> Response:
        """The API reference (Swagger UI), under the pages' Content-Security-Policy."""
        page = swagger_page(title=app.title, openapi_url=app.openapi_url or "/openapi.json")
        return Response(page, media_type="text/html", headers=PAGE_HEADERS)

    @app.get(
        "/healthz",
        tags=["meta"],
        response_model=Healthy,
        responses={503: {"model": Unavailable, "description": "The database does not answer."}},
    )
    async def healthz(request: Request) -> JSONResponse:
        """200 ``{"status": "ok"}`` when the database answers, 503 ``{"status": "unavailable"}``
        when it does not."""
        try:
            await runtime_of(request).database.ping()
        except Exception:
            log.exception("health check: the database does not answer")
            return JSONResponse({"status": "unavailable"}, status_code=503)
        return JSONResponse({"status": "ok"})

    @app.websocket("/ws")
    async def live(websocket: WebSocket, since: str | None = None) -> None:
        """Live events for a member (session cookie or Bearer token); with ``since`` (the last
        event id the client handled, or ``now``), numbered and caught up first."""
        cursor = _cursor(since)
        if isinstance(cursor, str):
            await websocket.close(code=1008, reason=cursor)
            return
        member = await websocket_member(websocket)
        if member is None:
            await websocket.close(code=1008, reason="authentication required")
            return
        await websocket.accept()
        await _stream_events(websocket, member.id, cursor)

    return app


# ``?since=now``: numbered events from now on, with nothing to catch up.
NOW = "now"
BAD_CURSOR = "since: the id of the last event you handled, or now"


@dataclass(frozen=True)
class _Live:
    """What a connection asked for: events as they come (no cursor), or numbered ones after
    ``since`` (None: from now on)."""

    numbered: bool
    since: int | None


async def _warm(*, freeze: bool) -> None:
    """The reading dictionary loaded and the hash an unknown e-mail's login is checked against
    made (in a thread, not on a first message or login); then, with ``freeze``, everything the
    process holds so far (modules, the app, the dictionary) moved out of the collector's
    generations, its garbage collected first (kit.collector.freeze_held): a busy server walked
    them again at each full collection, ~8 % of its CPU storing messages (issue 14)."""
    await asyncio.to_thread(readings.warm)
    await asyncio.to_thread(security.warm_dummy_hash)
    if freeze:
        freeze_held()


def _cursor(since: str | None) -> _Live | str:
    """The connection's wish, or why ``since`` is refused."""
    if since is None:
        return _Live(numbered=False, since=None)
    if since == NOW:
        return _Live(numbered=True, since=None)
    if not since.isascii() or not since.isdigit() or len(since) > 18:
        return BAD_CURSOR
    return _Live(numbered=True, since=int(since))


async def _stream_events(websocket: WebSocket, member_id: int, live: _Live) -> None:
    bus = runtime_of(websocket).bus
    # Subscribed before the backlog is read: what is published meanwhile is in one or the
    # other (or both: then skipped live), never in neither. While it is open the member has a
    # live tab, which tells them itself: no Web Push meanwhile.
    async with bus.subscribe() as subscription, bus.present(member_id):
        caught_up = 0
        if not live.numbered:
            await websocket.send_json({"type": "ready", "member_id": member_id})
        else:
            try:
                backlog = await bus.backlog(live.since)
            except BusUnavailable:
                # The shared stream is down (Redis restarting): try again later.
                await websocket.close(code=1013)
                return
            caught_up = backlog.last_id
            await websocket.send_json(
                {"type": "ready", "member_id": member_id, "last_event_id": backlog.last_id}
            )
            if not backlog.complete:
                await websocket.send_json({"type": "resync", "member_id": member_id})
            for event in backlog.events:
                # A sign-out before now was for an earlier session: this one was just checked.
                if event.visible_to(member_id) and not isinstance(event, MemberSignedOut):
                    await websocket.send_text(event.to_json(with_id=True))

        async def forward() -> None:
            async for event in subscription:
                if event.id is not None and event.id <= caught_up:
                    continue
                if event.visible_to(member_id):
                    await websocket.send_text(event.to_json(with_id=live.numbered))
                    if isinstance(event, MemberSignedOut):  # deactivated, or password reset
                        await websocket.close(code=1008, reason="signed out")
                        return
            # The bus dropped us (too slow, or shutting down): the client reconnects.
            await websocket.close(code=1013)

        sender = asyncio.create_task(forward())
        try:
            while True:
                await websocket.receive_text()
        except WebSocketDisconnect:
            pass
        finally:
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await sender


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def domain_error(request: Request, error: DomainError) -> Response:
        if _from_staff_ui(request):
            # A fragment shows the refusal where the member acted, in their own language.
            return error_text(error, _member_language(request))
        return JSONResponse({"detail": str(error)}, status_code=error.status_code)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_request: Request, error: RequestValidationError) -> JSONResponse:
        return JSONResponse({"detail": describe_invalid(error.errors())}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> Response:
        if _undecodable_json(request, error):
            # A JSON body that is not even text (not UTF-8) is malformed JSON like any other.
            return JSONResponse({"detail": NOT_JSON}, status_code=422)
        if error.status_code == 401 and _wants_page(request):
            # The query comes along: a filtered list or a member link survives signing in.
            return RedirectResponse(f"/login?next={quote(_path_and_query(request))}", 303)
        return JSONResponse(
            {"detail": error.detail}, status_code=error.status_code, headers=error.headers
        )

    @app.exception_handler(OverflowError)
    async def out_of_range(request: Request, _error: Exception) -> Response:
        """A number or a date too large for the database or the calendar (an id past 2³¹ on
        PostgreSQL, the year 9999 in a zone west of UTC): the request's fault, not a bug."""
        refusal = Invalid("A number or a date is out of range.")
        # Usually the request's; if it was our own arithmetic, the log shows where.
        log.warning("out of range in %s %s", request.method, request.url.path, exc_info=_error)
        return refused(
            request.url.path, "hx-request" in request.headers, refusal, _page_language(request)
        )

    @app.exception_handler(DBAPIError)
    async def database_refused(request: Request, error: DBAPIError) -> Response:
        # The PostgreSQL driver wraps a parameter out of its column's range.
        if _caused_by(error, OverflowError):
            return await out_of_range(request, error)
        # Handled here, it would not reach the server's own log: say it.
        log.error("the database refused %s %s", request.method, request.url.path, exc_info=error)
        return await unexpected_error(request, error)

    @app.exception_handler(Exception)
    async def unexpected_error(request: Request, error: Exception) -> Response:
        """A bug: a small translated page for a person, one sentence for a fragment or the API
        (the traceback still goes to the log). Starlette answers it outside every middleware,
        so the default headers are added here."""
        return add_defaults(_unexpected_answer(request), request.url.path)

    def _unexpected_answer(request: Request) -> Response:
        language = _page_language(request)
        if request.url.path.startswith("/api/"):
            return JSONResponse({"detail": "Internal server error."}, status_code=500)
        if "hx-request" in request.headers:
            message = gettext_for(language).gettext("Something went wrong. Please try again.")
            return PlainTextResponse(message, status_code=500)
        return render(
            request,
            "error.html",
            language=language,
            settings=runtime_of(request).settings,
            now=utcnow(),
            status_code=500,
            retry_url=safe_next(_path_and_query(request)),
        )


def _caused_by(error: BaseException, kind: type[BaseException]) -> bool:
    seen: BaseException | None = error
    for _ in range(10):  # a short chain; never a loop
        if seen is None:
            return False
        if isinstance(seen, kind):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _undecodable_json(request: Request, error: StarletteHTTPException) -> bool:
    """FastAPI's own 400 for a JSON body it could not decode ("There was an error parsing the
    body"), which it raises from the decoding error (bytes that are not UTF-8, nesting past
    Python's recursion limit); a broken multipart form is Starlette's 400 and stays one."""
    media_type = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    is_json = media_type == "application/json" or (
        media_type.startswith("application/") and media_type.endswith("+json")
    )
    return (
        error.status_code == 400
        and is_json
        and isinstance(error.__cause__, ValueError | RecursionError)
    )


def _path_and_query(request: Request) -> str:
    query = request.url.query
    return f"{request.url.path}?{query}" if query else request.url.path


def _from_staff_ui(request: Request) -> bool:
    """Whether the route that refused belongs to the staff UI (madoguchi.ui)."""
    endpoint = request.scope.get("endpoint")
    return str(getattr(endpoint, "__module__", "")).startswith("madoguchi.ui.")


def _member_language(request: Request) -> str:
    """The language of the member the request was made for (current_member, in
    members/dependencies.py), or the workspace's."""
    language = getattr(request.state, "language", None)
    return str(language) if language else runtime_of(request).settings.default_language


def _page_language(request: Request) -> str:
    """The workspace's language: after an unexpected error the database is not asked for the
    member's own."""
    return runtime_of(request).settings.default_language


def _wants_page(request: Request) -> bool:
    """A person's browser asking for a page (not the API, not an htmx fragment)."""
    return (
        not request.url.path.startswith("/api/")
        and "text/html" in request.headers.get("accept", "")
        and "hx-request" not in request.headers
    )
