"""The staff UI as an installable web app: its manifest, its service worker (at the root, so
that its scope is every page) and the page it shows with no network."""

from __future__ import annotations

import hashlib
import json
from functools import cache

from fastapi import APIRouter, Request
from fastapi.responses import Response

from madoguchi.kit.db import utcnow
from madoguchi.kit.i18n import gettext_for, pick_language
from madoguchi.kit.web import runtime_of
from madoguchi.ui.render import MODULES_DIR, environment, module_url, render, static_url

router = APIRouter()

THEME_COLOUR = "#2f5d8a"
ICONS = {
    "192": "icons/icon-192.png",
    "512": "icons/icon-512.png",
    "maskable": "icons/maskable-512.png",
}
OFFLINE = "/offline"
# Asked for again at each visit (the browser checks it at least daily anyway): a release's new
# shell replaces the old one at the next page opened.
NO_CACHE = {"Cache-Control": "no-cache"}


@router.get("/manifest.webmanifest")
async def manifest(request: Request) -> Response:
    """Name, icons (192 and 512 px PNGs), the page it opens on, shown standalone."""
    language = pick_language(runtime_of(request).settings.default_language)
    _ = gettext_for(language).gettext
    document = {
        "name": "Madoguchi",
        "short_name": "Madoguchi",
        "description": _("Every customer conversation in one inbox"),
        "lang": language,
        "id": "/",
        "start_url": "/",
        "scope": "/",
        "display": "standalone",
        "orientation": "any",
        "theme_color": THEME_COLOUR,
        "background_color": "#ffffff",
        "icons": [
            {"src": static_url(ICONS["192"]), "sizes": "192x192", "type": "image/png"},
            {"src": static_url(ICONS["512"]), "sizes": "512x512", "type": "image/png"},
            {
                "src": static_url(ICONS["maskable"]),
                "sizes": "512x512",
                "type": "image/png",
                "purpose": "maskable",
            },
        ],
    }
    return Response(
        json.dumps(document, ensure_ascii=False),
        media_type="application/manifest+json",
        headers=NO_CACHE,
    )


def shell() -> list[str]:
    """What the service worker keeps: the styles, the scripts, the icons, the offline page."""
    files = [
        static_url("css/app.css"),
        static_url("css/settings.css"),
        static_url("vendor/htmx.min.js"),
        static_url("favicon.svg"),
        static_url("offline.js"),
        *(static_url(path) for path in ICONS.values()),
        *(module_url(module.name) for module in sorted(MODULES_DIR.glob("*.js"))),
    ]
    return [*files, OFFLINE]


@cache
def _worker_script() -> tuple[str, str]:
    """The service worker's text and its version (a hash of the shell's addresses, which
    carry each file's own hash)."""
    files = shell()
    version = hashlib.sha256("\n".join(files).encode()).hexdigest()[:12]
    script = environment.get_template("sw.js").render(
        version=version,
        shell=files,
        icon=static_url(ICONS["192"]),
        badge=static_url(ICONS["192"]),
    )
    return script, version


@router.get("/sw.js")
async def service_worker() -> Response:
    script, _version = _worker_script()
    return Response(
        script,
        media_type="text/javascript",
        headers={**NO_CACHE, "Service-Worker-Allowed": "/"},
    )


@router.get(OFFLINE)
async def offline_page(request: Request) -> Response:
    """The page the service worker shows for any page asked for with no network; it names
    nobody, so it needs no sign-in and may be kept."""
    settings = runtime_of(request).settings
    response = render(
        request,
        "offline.html",
        language=settings.default_language,
        settings=settings,
        now=utcnow(),
    )
    response.headers.update(NO_CACHE)
    return response
