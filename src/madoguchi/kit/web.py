"""What every route shares: the runtime, a context per request, and the shape of a refusal.
Who is asking is the members package's (members/dependencies.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Request
from starlette.requests import HTTPConnection
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse

from madoguchi.config import Settings
from madoguchi.events import EventBus
from madoguchi.kit.context import Ctx
from madoguchi.kit.db import Database
from madoguchi.kit.errors import DomainError
from madoguchi.kit.i18n import translate_error
from madoguchi.kit.spreadsheet import REPLACED_CELLS_HEADER, EncodedCsv

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass
class Runtime:
    """Everything the process holds for its lifetime."""

    settings: Settings
    database: Database
    bus: EventBus


def _download_headers(filename: str) -> dict[str, str]:
    """A file to save: its name, never cached, its type as given."""
    return {
        "Content-Disposition": f'attachment; filename="{filename}"',
        "Cache-Control": "no-store",
        "X-Content-Type-Options": "nosniff",
    }


def attachment(
    chunks: AsyncIterator[bytes], *, media_type: str, filename: str
) -> StreamingResponse:
    """A streamed file to save (an export)."""
    return StreamingResponse(chunks, media_type=media_type, headers=_download_headers(filename))


def csv_download(encoded: EncodedCsv, *, encoding: str, filename: str) -> Response:
    """A CSV file to save, as ``spreadsheet.encode_csv`` wrote it (UTF-8 with a BOM, or
    Shift_JIS), saying how many cells were made safe for a spreadsheet."""
    charset = "Shift_JIS" if encoding == "cp932" else "utf-8"
    headers = _download_headers(filename)
    headers[REPLACED_CELLS_HEADER] = str(encoded.replaced_cells)
    return Response(encoded.data, media_type=f"text/csv; charset={charset}", headers=headers)


def runtime_of(connection: HTTPConnection) -> Runtime:
    runtime: Runtime = connection.app.state.runtime
    return runtime


# Endpoints that change nothing through their own session: what they store, a writer elsewhere
# stores (``connectors.intake``), and a request holding SQLite's write lock while it waited on
# that writer would wait for itself.
_READS_ONLY: set[Callable[..., Any]] = set()
_Endpoint = TypeVar("_Endpoint", bound=Callable[..., Any])


def reads_only(endpoint: _Endpoint) -> _Endpoint:
    """Mark a route's endpoint as one whose session only reads (see ``_READS_ONLY``)."""
    _READS_ONLY.add(endpoint)
    return endpoint


async def request_ctx(request: Request) -> AsyncIterator[Ctx]:
    """A session per request: reads for GET (and for ``reads_only`` routes), a writer
    transaction (on SQLite) otherwise."""
    runtime = runtime_of(request)
    database = runtime.database
    writes = request.method not in SAFE_METHODS and request.scope.get("endpoint") not in _READS_ONLY
    factory = database.write_sessions if writes else database.read_sessions
    async with factory() as session:
        yield Ctx(db=session, bus=runtime.bus, settings=runtime.settings)


CtxDep = Annotated[Ctx, Depends(request_ctx)]


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


# The 422 for a body that is not JSON: malformed, or not even text (app.py).
NOT_JSON = "The request body is not valid JSON."


def describe_invalid(errors: Any) -> str:
    """One readable sentence for a 422 ``detail`` (or a WebSocket error frame)."""
    parts = []
    for error in errors:
        if error.get("type") == "json_invalid":
            parts.append(NOT_JSON)
            continue
        location = ".".join(str(part) for part in error.get("loc", ()) if part != "body")
        message = error.get("msg", "invalid")
        parts.append(f"{location}: {message}" if location else message)
    return "; ".join(parts) or "The request is not valid."


def refused(path: str, htmx: bool, error: DomainError, language: str) -> Response:
    """A refusal answered before (or instead of) a route: ``{"detail"}`` JSON to the API and to
    plain requests, the translated sentence to an htmx fragment (which shows it where it asked)."""
    if path.startswith("/api/") or not htmx:
        return JSONResponse({"detail": str(error)}, status_code=error.status_code)
    return PlainTextResponse(translate_error(error, language), status_code=error.status_code)
