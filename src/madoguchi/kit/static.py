"""The static files, answered from memory.

Starlette's StaticFiles looks each file up and reads it in a worker thread: two trips between
threads for a favicon, more than the rest of the request (issue 14: a static file was 1.6× a bare
route). The package's files are few and small, so each is read once and kept; a request looks the
path up (the same safe lookup, a ``stat`` that never waits on a local file) and answers from memory.
A changed file (its size or time) is read again, so a developer's edit shows at once. Anything
unusual (a large file, a range request, HEAD, another method) goes the regular way.
"""

from __future__ import annotations

import os
import stat

from starlette.datastructures import Headers
from starlette.responses import FileResponse, Response
from starlette.staticfiles import NotModifiedResponse, StaticFiles
from starlette.types import Scope

# Larger files (none of ours today) are streamed from disk as before.
MAX_KEPT_BYTES = 4 * 1024 * 1024


class KeptStaticFiles(StaticFiles):
    def __init__(self, *, directory: str | os.PathLike[str]) -> None:
        super().__init__(directory=directory)
        self._kept: dict[str, tuple[float, int, bytes]] = {}

    async def get_response(self, path: str, scope: Scope) -> Response:
        request_headers = Headers(scope=scope)
        if scope["method"] != "GET" or "range" in request_headers:
            return await super().get_response(path, scope)
        try:
            full_path, found = self.lookup_path(path)
        except (OSError, ValueError):
            return await super().get_response(path, scope)  # its own answers to those
        if found is None or not stat.S_ISREG(found.st_mode) or found.st_size > MAX_KEPT_BYTES:
            return await super().get_response(path, scope)
        body = self._body(full_path, found)
        # FileResponse makes the headers (type, ETag, Last-Modified) without reading the file.
        headers = FileResponse(full_path, stat_result=found).headers
        if self.is_not_modified(headers, request_headers):
            return NotModifiedResponse(headers)
        kept = {k: v for k, v in headers.items() if k not in ("content-length", "accept-ranges")}
        return Response(body, headers=kept)

    def _body(self, full_path: str, found: os.stat_result) -> bytes:
        kept = self._kept.get(full_path)
        if kept is not None and kept[0] == found.st_mtime and kept[1] == found.st_size:
            return kept[2]
        with open(full_path, "rb") as file:
            body = file.read()
        self._kept[full_path] = (found.st_mtime, found.st_size, body)
        return body
