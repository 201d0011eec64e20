"""The staff UI's Jinja environment: translations per request, Japan-time filters, responses."""

from __future__ import annotations

import contextlib
import hashlib
import re
from collections.abc import Callable, Iterable, Mapping
from datetime import date, datetime
from functools import cache
from gettext import NullTranslations
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_datetime
from fastapi import Request
from fastapi.responses import HTMLResponse, PlainTextResponse
from jinja2 import Environment, FileSystemLoader, pass_context, select_autoescape
from jinja2.runtime import Context
from markupsafe import Markup, escape

from madoguchi.config import Settings
from madoguchi.conversations import repository
from madoguchi.conversations.models import MAX_TEXT_LENGTH, Message
from madoguchi.conversations.workflow import MEMO_LIMIT, SYSTEM_TEXT
from madoguchi.crm.memos import BODY_LIMIT, TITLE_LIMIT
from madoguchi.files.service import MAX_IMAGE_BYTES, MAX_IMAGES
from madoguchi.kit.context import Ctx
from madoguchi.kit.errors import DomainError
from madoguchi.kit.headers import NOSNIFF
from madoguchi.kit.i18n import gettext_for, pick_language, translate_error
from madoguchi.kit.text import WEB_ADDRESS
from madoguchi.members.models import Member
from madoguchi.ui.present import display_value, thumbnail_size

PACKAGE_DIR = Path(__file__).resolve().parent.parent
TEMPLATES_DIR = PACKAGE_DIR / "templates"
STATIC_DIR = PACKAGE_DIR / "static"

# Everything the pages load comes from this server: no CDN, no web font, no remote image.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; form-action 'self'; base-uri 'none'; "
    "frame-ancestors 'none'; object-src 'none'"
)
PAGE_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "Referrer-Policy": "same-origin",
    **NOSNIFF,
}
# Day-separator formats (CLDR patterns); Japanese: 2026年11月24日（火）.
DAY_PATTERNS = {"ja": "y年M月d日（E）", "en": "EEEE, MMMM d, y"}
# A moment with its weekday, for what is still to come (a scheduled send): 11/25（水）10:00.
WEEKDAY_TIME_PATTERNS = {"ja": "M/d（E） H:mm", "en": "EEE M/d H:mm"}


def _template_gettext(translations: NullTranslations) -> Callable[..., str]:
    """``gettext`` for templates (new style: always %-formatted, autoescape-aware)."""

    @pass_context
    def gettext(context: Context, message: str, /, **variables: Any) -> str:
        translated: str = translations.gettext(message)
        if context.eval_ctx.autoescape:
            translated = Markup(translated)
        return translated % variables

    return gettext


def _template_ngettext(translations: NullTranslations) -> Callable[..., str]:
    @pass_context
    def ngettext(context: Context, singular: str, plural: str, n: int, /, **variables: Any) -> str:
        variables.setdefault("num", n)
        translated: str = translations.ngettext(singular, plural, n)
        if context.eval_ctx.autoescape:
            translated = Markup(translated)
        return translated % variables

    return ngettext


def _timezone(context: Context) -> ZoneInfo:
    zone: ZoneInfo = context["timezone"]
    return zone


@pass_context
def list_time(context: Context, moment: datetime) -> str:
    """The inbox list's time: today HH:MM, this year M/D, else YYYY/M/D (local time)."""
    zone = _timezone(context)
    local = moment.astimezone(zone)
    today = context["now"].astimezone(zone).date()
    if local.date() == today:
        return f"{local:%H:%M}"
    if local.year == today.year:
        return f"{local.month}/{local.day}"
    return f"{local.year}/{local.month}/{local.day}"


@pass_context
def clock(context: Context, moment: datetime) -> str:
    return f"{moment.astimezone(_timezone(context)):%H:%M}"


@pass_context
def full_time(context: Context, moment: datetime) -> str:
    local = moment.astimezone(_timezone(context))
    return f"{local.year}/{local.month}/{local.day} {local:%H:%M}"


@pass_context
def short_time(context: Context, moment: datetime) -> str:
    """A moment in a sentence (スヌーズ中 〜11/25 9:00, 返信期限 11/25 14:00 まで)."""
    local = moment.astimezone(_timezone(context))
    return f"{local.month}/{local.day} {local.hour}:{local.minute:02d}"


@pass_context
def weekday_time(context: Context, moment: datetime) -> str:
    language = pick_language(context.get("language"))
    local = moment.astimezone(_timezone(context))
    return format_datetime(local, WEEKDAY_TIME_PATTERNS[language], locale=language)


@pass_context
def system_line(context: Context, message: Message) -> str:
    """A system line in the member's language, from its event and arguments (``meta``); the
    stored English text when it has none."""
    meta = message.meta or {}
    event = meta.get("event")
    if event not in SYSTEM_TEXT:
        return message.text
    arguments = {key: str(value) for key, value in meta.items()}
    arguments.setdefault("member", "")
    if "until" in meta:
        with contextlib.suppress(ValueError):
            arguments["until"] = short_time(context, datetime.fromisoformat(str(meta["until"])))
    translated: str = gettext_for(context.get("language")).gettext(SYSTEM_TEXT[event])
    return translated % arguments


@pass_context
def local_day(context: Context, moment: datetime) -> date:
    return moment.astimezone(_timezone(context)).date()


@pass_context
def day_label(context: Context, day: date) -> str:
    language = pick_language(context.get("language"))
    return format_date(day, DAY_PATTERNS[language], locale=language)


def linkify(text: str, *, mark: Callable[[str], str] | None = None) -> Markup:
    """Escape a message and make its web addresses clickable (opened in a new tab). ``mark``
    rewrites the escaped text between addresses (never inside one)."""
    parts: list[str] = []
    last = 0

    def between(plain: str) -> str:
        escaped = str(escape(plain))
        return mark(escaped) if mark is not None else escaped

    for match in WEB_ADDRESS.finditer(text):
        parts.append(between(text[last : match.start()]))
        url = escape(match.group(0))
        parts.append(f'<a href="{url}" target="_blank" rel="noopener noreferrer">{url}</a>')
        last = match.end()
    parts.append(between(text[last:]))
    return Markup("".join(parts))


def note_text(text: str, names: Iterable[str]) -> Markup:
    """An internal note: linkified, with each ``@name`` of a member marked (as the service
    reads mentions: the name with or without its spaces), outside web addresses."""
    handles = {
        str(escape(handle))
        for name in names
        for handle in (name, name.replace(" ", "").replace("\u3000", ""))
        if handle
    }
    if not handles:
        return linkify(text)
    alternatives = "|".join(re.escape(h) for h in sorted(handles, key=len, reverse=True))
    mention = re.compile(f"@({alternatives})")
    return linkify(text, mark=lambda html: mention.sub(r'<span class="mention">@\1</span>', html))


# A salon's display names often start with the member in charge: 【担当者】顧客氏名.
_NAME_PREFIX = re.compile(r"^\s*(?:【[^】]*】|\[[^\]]*\]|［[^］]*］|\([^)]*\)|（[^）]*）)\s*")


def initial(name: str) -> str:
    """The first letter of a name, for an avatar (after a 【担当者】 prefix)."""
    stripped = _NAME_PREFIX.sub("", name).strip() or name.strip()
    return stripped[:1].upper() if stripped else "?"


@cache
def static_url(path: str) -> str:
    """``/static/<path>?v=<content hash>``, so a new release is never served from a stale cache."""
    try:
        digest = hashlib.sha256((STATIC_DIR / path).read_bytes()).hexdigest()[:10]
    except OSError:  # not built yet (``make assets``): the page still renders
        return f"/static/{path}"
    return f"/static/{path}?v={digest}"


# The staff pages' script: native ES modules in static/js/, no build step. An ``import`` resolves
# against the importing module's address, and a ``?v=`` query is not carried over, so the
# versioned address is a directory instead: /static/modules/<hash of all modules>/main.js imports
# ``./list.js`` as /static/modules/<same hash>/list.js. Every module of a release shares one
# version and is cached for good (ui/scripts.py); no inline import map, so the
# Content-Security-Policy stays ``script-src 'self'``.
MODULES_DIR = STATIC_DIR / "js"


@cache
def modules_version() -> str:
    """One hash over every module's name and content: any change makes every address new."""
    digest = hashlib.sha256()
    for module in sorted(MODULES_DIR.glob("*.js")):
        digest.update(module.name.encode() + b"\0" + module.read_bytes() + b"\0")
    return digest.hexdigest()[:10]


def module_url(name: str) -> str:
    """``/static/modules/<version>/<name>``: the address of a module and of all it imports."""
    return f"/static/modules/{modules_version()}/{name}"


def _build_environment() -> Environment:
    environment = Environment(
        loader=FileSystemLoader(TEMPLATES_DIR),
        autoescape=select_autoescape(["html"]),
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    # Set by the i18n extension; translations are given per render (each member's language).
    environment.newstyle_gettext = True  # type: ignore[attr-defined]
    environment.filters.update(
        list_time=list_time,
        clock=clock,
        full_time=full_time,
        local_day=local_day,
        short_time=short_time,
        weekday_time=weekday_time,
        system_line=system_line,
        thumbnail_size=thumbnail_size,
        day_label=day_label,
        linkify=linkify,
        note_text=note_text,
        initial=initial,
        display_value=display_value,
        unread_label=repository.unread_label,
    )
    environment.globals["static_url"] = static_url
    environment.globals["module_url"] = module_url
    return environment


environment = _build_environment()

# What a member's forms count against, for their counters and the browser's own checks.
FORM_LIMITS: dict[str, Any] = {
    "max_text_length": MAX_TEXT_LENGTH,
    "memo_limit": MEMO_LIMIT,
    "memo_title_limit": TITLE_LIMIT,
    "memo_body_limit": BODY_LIMIT,
    "max_images": MAX_IMAGES,
    "max_image_bytes": MAX_IMAGE_BYTES,
    "image_types": ("image/jpeg", "image/png", "image/gif", "image/webp"),
}


def render(
    request: Request,
    name: str,
    *,
    language: str | None,
    settings: Settings,
    now: datetime,
    status_code: int = 200,
    headers: Mapping[str, str] | None = None,
    **context: Any,
) -> HTMLResponse:
    """A page or an htmx fragment in ``language`` (before sign-in: the workspace's); a signed-in
    member's pages use ``render_for``."""
    language = pick_language(language)
    translations = gettext_for(language)
    body = environment.get_template(name).render(
        {
            **context,
            "request": request,
            "language": language,
            "timezone": ZoneInfo(settings.timezone),
            "now": now,
            "gettext": _template_gettext(translations),
            "ngettext": _template_ngettext(translations),
            # A stored sentence that may be one of ours (a delivery error): translated when the
            # catalogue knows it, else shown as it is (a channel's own words); never %-formatted.
            "translated": translations.gettext,
        }
    )
    return HTMLResponse(body, status_code=status_code, headers={**PAGE_HEADERS, **(headers or {})})


def render_for(
    request: Request,
    ctx: Ctx,
    member: Member,
    name: str,
    *,
    status_code: int = 200,
    headers: Mapping[str, str] | None = None,
    **context: Any,
) -> HTMLResponse:
    """A page or fragment for a signed-in member, in their language, with the limits its forms
    count against."""
    return render(
        request,
        name,
        language=member.language,
        settings=ctx.settings,
        now=ctx.now(),
        status_code=status_code,
        headers=headers,
        member=member,
        **{**FORM_LIMITS, **context},
    )


def error_message(error: DomainError, language: str | None) -> str:
    """A domain error in the member's language (its values, such as an owner's field label,
    stay as written)."""
    return translate_error(error, language)


def error_text(error: DomainError, language: str | None) -> PlainTextResponse:
    """A fragment request's domain error: the translated sentence, shown where the member acted."""
    return PlainTextResponse(error_message(error, language), status_code=error.status_code)
