"""A form's link for one contact, and the ``{{form:<id>}}`` placeholder that puts it in a text.

``contact_link`` of forms.service makes the address of a form that names one contact
(``/f/<id>?k=<contact id>.<signature>``, signed with the workspace key): answering through it
fills that contact. A template, a broadcast (and whatever else sends a text to many contacts)
writes ``{{form:3}}`` (or a template's single-brace ``{form:3}``) and each contact gets their own
such link: both renderers (automation.templates and broadcasts.sending) fill it through
:func:`prepare` and :meth:`FormLinks.fill`, and both check it when the text is saved
(:func:`check`). A form deleted after the text was saved leaves the placeholder empty.

It sits below the services that send texts, so each of them can use it without depending on
another.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from madoguchi.forms.models import Form
from madoguchi.kit.errors import Invalid
from madoguchi.kit.i18n import N_
from madoguchi.workspace import service as workspace

PUBLIC_PATH = "/f/"
# {{form:3}}, with room for spaces; or the templates' single-brace {form:3}.
FORM_LINK = re.compile(r"\{\{\s*form\s*:\s*([^{}]*?)\s*\}\}|\{form:(\d+)\}")
UNKNOWN_FORM = N_(
    "The text links the form {{form:%(ref)s}}, which does not exist: use the ID of one of the "
    "forms in the settings."
)


def placeholder(form_id: int) -> str:
    """What a text writes for this form's link: ``{{form:3}}``."""
    return "{{form:" + str(form_id) + "}}"


def public_url(base_url: str, form_id: int) -> str:
    return f"{base_url.rstrip('/')}{PUBLIC_PATH}{form_id}"


def link_text(form_id: int, contact_id: int) -> str:
    """What a per-contact link's signature signs."""
    return f"form:{form_id}:{contact_id}"


def signed_url(base_url: str, key: bytes, *, form_id: int, contact_id: int) -> str:
    signature = workspace.sign(key, link_text(form_id, contact_id))
    return f"{public_url(base_url, form_id)}?k={contact_id}.{signature}"


def _form_id(ref: str) -> int | None:
    return int(ref) if ref.isascii() and ref.isdigit() and len(ref) < 10 else None


def named(text: str) -> list[str]:
    """What each form link of the text names, as written."""
    return [double or single for double, single in FORM_LINK.findall(text)]


async def check(db: AsyncSession, text: str) -> None:
    """Every form link names a form that exists (a closed one too: it may open again)."""
    for ref in dict.fromkeys(named(text)):
        form_id = _form_id(ref)
        if form_id is None or await db.get(Form, form_id) is None:
            raise Invalid(UNKNOWN_FORM, ref=ref)


@dataclass(frozen=True)
class FormLinks:
    """What filling one text's form links needs, read once for all its contacts."""

    base_url: str
    key: bytes = b""
    form_ids: frozenset[int] = frozenset()

    def fill(self, text: str, contact_id: int) -> str:
        """The text with each form link made this contact's own (empty for a deleted form)."""

        def link(match: re.Match[str]) -> str:
            form_id = _form_id(match.group(1) or match.group(2))
            if form_id is None or form_id not in self.form_ids:
                return ""
            return signed_url(self.base_url, self.key, form_id=form_id, contact_id=contact_id)

        return FORM_LINK.sub(link, text)


async def prepare(db: AsyncSession, text: str, *, base_url: str) -> FormLinks:
    """The forms a text links and the key that signs their links. A key made just now is
    written in the caller's transaction, which must commit for the links to keep working."""
    ids = {form_id for ref in named(text) if (form_id := _form_id(ref)) is not None}
    if not ids:
        return FormLinks(base_url=base_url)
    existing = frozenset(await db.scalars(select(Form.id).where(Form.id.in_(ids))))
    key = await workspace.signing_key(db) if existing else b""
    return FormLinks(base_url=base_url, key=key, form_ids=existing)
