"""Workspace settings: テンプレート (ready-made replies with placeholders and up to three images,
in folders).

The form is multipart: images chosen in it are stored first (files.service.upload_image), then
the template is saved with them. When the template is refused, the stored images stay in the
form (as ids), so nothing has to be chosen twice.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.datastructures import FormData, UploadFile

from madoguchi.automation import macros, templates
from madoguchi.automation.models import Action, Template
from madoguchi.files import service as files
from madoguchi.forms import links as form_links
from madoguchi.forms import service as forms
from madoguchi.kit.context import Ctx
from madoguchi.kit.web import CtxDep
from madoguchi.members.dependencies import MemberDep
from madoguchi.members.models import Member
from madoguchi.ui.settings_named import NamedList
from madoguchi.ui.settings_pages import (
    N_,
    SettingsPage,
    act,
    add_page,
    as_ids,
    by_folder,
    form_text,
    translated,
)

router = APIRouter()

# Three images of at most 10 MB each, and the text.
MAX_REQUEST_BYTES = files.MAX_IMAGES * files.MAX_IMAGE_BYTES + 1024 * 1024
PLACEHOLDERS: tuple[tuple[str, str], ...] = (
    ("{name}", N_("the customer's display name")),
    ("{channel_name}", N_("their name on LINE or Instagram")),
    ("{staff}", N_("the name of the member who sends it")),
    ("{days_since_last_visit}", N_("days since their newest record (a visit), blank if none")),
)


def users_of_templates(all_actions: Sequence[Action]) -> dict[int, list[str]]:
    """The names of the actions that send each template."""
    used: dict[int, list[str]] = {}
    for action in all_actions:
        for step in action.steps:
            if step.get("type") == "send_template" and isinstance(step.get("template_id"), int):
                used.setdefault(step["template_id"], []).append(action.name)
    return used


async def _templates(ctx: Ctx) -> dict[str, Any]:
    folders = await templates.list_folders(ctx.db)
    all_templates = await templates.list_templates(ctx.db)
    return {
        "folders": folders,
        "folder_names": {f.id: f.name for f in folders},
        "templates_in": by_folder(all_templates),
        "template_count": len(all_templates),
        "used_by": users_of_templates(await macros.list_actions(ctx.db)),
        "text_limit": templates.TEXT_LIMIT,
        "max_images": files.MAX_IMAGES,
        "placeholders": PLACEHOLDERS,
        # Each form's {{form:<id>}}: the customer's own link to it (forms.links).
        "form_placeholders": [
            (form_links.placeholder(form.id), form.name) for form in await forms.list_forms(ctx.db)
        ],
    }


TEMPLATES = SettingsPage("templates", _templates)


@dataclass
class TemplateForm:
    """A template as its form sends it. ``image_ids`` are the images it keeps, then those
    chosen in it as they are stored: a refusal after them gives them back to the form."""

    form: FormData
    name: str
    folder: str | None
    text: str
    image_ids: list[int]

    @classmethod
    async def read(cls, request: Request) -> TemplateForm:
        form = await request.form(max_files=files.MAX_IMAGES + 1)
        removed = set(as_ids([str(v) for v in form.getlist("remove_image")]))
        kept = as_ids([str(v) for v in form.getlist("image_ids")])
        return cls(
            form=form,
            name=str(form.get("name") or ""),
            folder=str(form.get("folder") or "").strip() or None,
            text=form_text(form.get("text")),
            image_ids=[i for i in kept if i not in removed],
        )

    @property
    def draft(self) -> dict[str, Any]:
        # The same list store_images fills.
        return {
            "name": self.name,
            "folder": self.folder or "",
            "text": self.text,
            "image_ids": self.image_ids,
        }

    def changes(self) -> templates.TemplateChanges:
        """The form as an update: everything it holds, the folder too."""
        return templates.TemplateChanges(
            name=self.name, text=self.text, folder=self.folder, move=True, image_ids=self.image_ids
        )

    async def store_images(self, ctx: Ctx) -> None:
        """Keep each chosen image, adding its id as soon as it is stored."""
        for upload in self.form.getlist("images"):
            if not isinstance(upload, UploadFile) or not upload.filename:
                continue  # an empty file input
            data = await upload.read(files.MAX_IMAGE_BYTES + 1)
            if data:
                stored = await files.upload_image(ctx, data=data, name=upload.filename)
                self.image_ids.append(stored.id)


add_page(router, TEMPLATES)


async def _save(
    request: Request,
    ctx: Ctx,
    member: Member,
    save: Callable[[TemplateForm], Awaitable[Template]],
    *,
    at: str,
    **answer: Any,
) -> Response:
    """Store the images chosen in the form, then the template through ``save``; a refusal
    gives the form back with the stored images in it."""
    typed = await TemplateForm.read(request)

    async def change() -> Template:
        await typed.store_images(ctx)
        return await save(typed)

    return await act(request, ctx, member, TEMPLATES, change, at=at, draft=typed.draft, **answer)


# Adding and changing a template stay routes of their own (NamedList is for the delete): the
# form is multipart, its images are stored before the template, and its folder is typed by name.
@router.post("/settings/templates", max_body_size=MAX_REQUEST_BYTES)
async def add_template(request: Request, member: MemberDep, ctx: CtxDep) -> Response:
    return await _save(
        request,
        ctx,
        member,
        lambda typed: templates.create_template(
            ctx, name=typed.name, text=typed.text, folder=typed.folder, image_ids=typed.image_ids
        ),
        at="new-template",
        notice=lambda template: translated(
            member, N_("Added the template %(name)s."), name=template.name
        ),
        done_at=lambda template: f"template-{template.id}",
    )


@router.post("/settings/templates/{template_id}/update", max_body_size=MAX_REQUEST_BYTES)
async def update_template(
    template_id: int, request: Request, member: MemberDep, ctx: CtxDep
) -> Response:
    return await _save(
        request,
        ctx,
        member,
        lambda typed: templates.update_template(
            ctx, template_id=template_id, changes=typed.changes()
        ),
        at=f"template-{template_id}",
    )


NamedList(
    TEMPLATES,
    "/settings/templates",
    "template",
    delete=lambda ctx, member, template_id: templates.delete_template(
        ctx, template_id=template_id, actor=member
    ),
    deleted=N_("Deleted the template %(name)s."),
).register(router)
