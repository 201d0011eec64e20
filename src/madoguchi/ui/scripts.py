"""The staff pages' script modules under a versioned directory (see ``render.module_url``).

The current version is cached for a year (``immutable``): a new release has a new directory. An
address of another version (a page loaded before an upgrade) gets today's file uncached, so no
cache ever keeps a file under a version it does not belong to.
"""

from __future__ import annotations

import re

from fastapi import APIRouter
from fastapi.responses import FileResponse, Response

from madoguchi.ui.render import MODULES_DIR, modules_version

router = APIRouter()

MODULE_NAME = re.compile(r"[a-z][a-z0-9-]*\.js")
FOREVER = "public, max-age=31536000, immutable"


@router.get("/static/modules/{version}/{name}")
async def script_module(version: str, name: str) -> Response:
    path = MODULES_DIR / name
    if not MODULE_NAME.fullmatch(name) or not path.is_file():
        return Response(status_code=404)
    cache = FOREVER if version == modules_version() else "no-cache"
    return FileResponse(path, media_type="text/javascript", headers={"Cache-Control": cache})
