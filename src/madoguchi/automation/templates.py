"""Templates (テンプレート, F7): texts with placeholders, and images, in folders."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from madoguchi.audit import service as audit
from madoguchi.automation.models import Template, TemplateFolder
from madoguchi.contacts.models import Contact
from madoguchi.conversations import service as conversations
from madoguchi.conversations.models import Message
from madoguchi.crm.models import Record
from madoguchi.events.types import TemplatesChanged
from madoguchi.files import service as files
from madoguchi.files.models import StoredFile
from madoguchi.forms import links as form_links
from madoguchi.kit.clean import clean_name
from madoguchi.kit.context import Ctx
from madoguchi.kit.errors import Conflict, Invalid, NotFound
from madoguchi.kit.ordering import next_position
from madoguchi.kit.text import storable
from madoguchi.members.models import Member

TEXT_LIMIT = 1000
# What a template may say in braces; anything else in braces is left as written.
PLACEHOLDERS = ("name", "channel_name", "days_since_last_visit", "staff")
STAFF_PREFIX = re.compile(r"^\s*【[^】]*】\s*")
_PLACEHOLDER = re.compile(r"\{(" + "|".join(PLACEHOLDERS) + r")\}")


async def list_folders(db: AsyncSession) -> list[TemplateFolder]:
    return list(
        await db.scalars(
            select(TemplateFolder).order_by(TemplateFolder.position, TemplateFolder.id)
        )
    )


async def list_templates(db: AsyncSession) -> list[Template]:
    return list(await db.scalars(select(Template).order_by(Template.position, Template.id)))


async def get_template(db: AsyncSession, *, template_id: int) -> Template:
    template = await db.get(Template, template_id)
    if template is None:
        raise NotFound("No template with id %(id)s.", id=template_id)
    return template


async def _folder_for(ctx: Ctx, ref: int | str | None) -> TemplateFolder | None:
    if ref is None or ref == "":
        return None
    if isinstance(ref, int):
        folder = await ctx.db.get(TemplateFolder, ref)
        if folder is None:
            raise NotFound("No template folder with id %(id)s.", id=ref)
        return folder
    name = clean_name(ref)
    folder = await ctx.db.scalar(select(TemplateFolder).where(TemplateFolder.name == name))
    if folder is None:
        folder = TemplateFolder(
            name=name, position=await next_position(ctx.db, TemplateFolder.position)
        )
        ctx.db.add(folder)
        await ctx.db.flush()
    return folder


async def _clean(ctx: Ctx, text: str, image_ids: Sequence[int]) -> tuple[str, list[int]]:
    text = storable(text).strip()  # the form is multipart: no door checks it (kit.nul)
    images = await files.images(ctx.db, list(image_ids))
    if not text and not images:
        raise Invalid("A template needs a text or an image.")
    if len(text) > TEXT_LIMIT:
        raise Invalid("A template can be at most %(n)d characters.", n=TEXT_LIMIT)
    await form_links.check(ctx.db, text)
    return text, [image.id for image in images]


async def create_template(
    ctx: Ctx,
    *,
    name: str,
    text: str,
    folder: int | str | None = None,
    image_ids: Sequence[int] = (),
) -> Template:
    name = clean_name(name, 100)
    if await ctx.db.scalar(select(Template.id).where(Template.name == name)):
        raise Conflict("A template named %(name)s already exists.", name=name)
    body, images = await _clean(ctx, text, image_ids)
    template_folder = await _folder_for(ctx, folder)
    template = Template(
        name=name,
        text=body,
        image_ids=images,
        folder_id=template_folder.id if template_folder else None,
        position=await next_position(ctx.db, Template.position),
        created_at=ctx.now(),
        updated_at=ctx.now(),
    )
    ctx.db.add(template)
    await ctx.db.flush()
    audit.record(
        ctx,
        action="template.created",
        subject=f"template {template.id}",
        name=template.name,
        after=await _audited(ctx, template),
    )
    await ctx.commit(TemplatesChanged(template_id=template.id))
    return template


@dataclass(frozen=True)
class TemplateChanges:
    name: str | None = None
    text: str | None = None
    folder: int | str | None = None
    move: bool = False
    image_ids: Sequence[int] | None = None


async def _audited(ctx: Ctx, template: Template) -> dict[str, Any]:
    folder = (
        None if template.folder_id is None else await ctx.db.get(TemplateFolder, template.folder_id)
    )
    return {
        "name": template.name,
        "text": template.text,
        "folder": folder.name if folder else None,
        "images": len(template.image_ids or []),
    }


async def update_template(ctx: Ctx, *, template_id: int, changes: TemplateChanges) -> Template:
    template = await get_template(ctx.db, template_id=template_id)
    before = await _audited(ctx, template)
    if changes.name is not None:
        name = clean_name(changes.name, 100)
        if await ctx.db.scalar(
            select(Template.id).where(Template.name == name, Template.id != template.id)
        ):
            raise Conflict("A template named %(name)s already exists.", name=name)
        template.name = name
    template.text, template.image_ids = await _clean(
        ctx,
        template.text if changes.text is None else changes.text,
        template.image_ids if changes.image_ids is None else changes.image_ids,
    )
    if changes.move:
        template_folder = await _folder_for(ctx, changes.folder)
        template.folder_id = template_folder.id if template_folder else None
    template.updated_at = ctx.now()
    audit.record_changes(
        ctx,
        action="template.updated",
        subject=f"template {template.id}",
        name=template.name,
        before=before,
        after=await _audited(ctx, template),
    )
    await ctx.commit(TemplatesChanged(template_id=template.id))
    return template


async def delete_template(ctx: Ctx, *, template_id: int, actor: Member | None = None) -> None:
    template = await get_template(ctx.db, template_id=template_id)
    audit.record(
        ctx,
        actor=actor,
        action="template.deleted",
        subject=f"template {template.id}",
        name=template.name,
        before=await _audited(ctx, template),
        detail={"name": template.name},
    )
    await ctx.db.delete(template)
    await ctx.commit(TemplatesChanged(template_id=template_id))


async def render(ctx: Ctx, template: Template, *, contact: Contact, staff: Member | None) -> str:
    """The template's text for one contact: {name} (the display name without a 【担当者】
    prefix), {channel_name}, {staff},
    {days_since_last_visit} (days since their newest record, in Japan time; blank when none)
    and {{form:<id>}}, the contact's own link to that form (forms.links, filled first: what
    a contact wrote in their name cannot turn into a link)."""
    links = await form_links.prepare(ctx.db, template.text, base_url=ctx.settings.base_url)
    text = links.fill(template.text, contact.id)
    values = {
        # 「【美咲】田中 陽子」 is for the staff: the customer reads 「田中 陽子様」.
        "name": STAFF_PREFIX.sub("", contact.display_name) or contact.display_name,
        "channel_name": contact.channel_name,
        "staff": staff.name if staff else "",
        "days_since_last_visit": "",
    }
    if "{days_since_last_visit}" in text:
        last = await ctx.db.scalar(
            select(func.max(Record.at)).where(Record.contact_id == contact.id)
        )
        if last is not None:
            zone = ZoneInfo(ctx.settings.timezone)
            days = (ctx.now().astimezone(zone).date() - last.astimezone(zone).date()).days
            values["days_since_last_visit"] = str(days)
    return _PLACEHOLDER.sub(lambda match: values[match.group(1)], text)


async def send_template(
    ctx: Ctx, *, conversation_id: int, template_id: int, member: Member | None
) -> Message:
    """Send a template, filled in for the conversation's contact, with its images."""
    template = await get_template(ctx.db, template_id=template_id)
    conversation = await conversations.get_conversation(ctx.db, conversation_id=conversation_id)
    contact = await ctx.db.get(Contact, conversation.contact_id)
    assert contact is not None
    text = await render(ctx, template, contact=contact, staff=member)
    return await conversations.send_message(
        ctx,
        conversation_id=conversation.id,
        member=member,
        text=text,
        kind="reply",
        image_ids=template.image_ids,
    )


@dataclass(frozen=True)
class Filled:
    """A template as it would be sent in one conversation."""

    text: str
    images: list[StoredFile]


async def preview(
    ctx: Ctx, *, template_id: int, conversation_id: int, member: Member | None
) -> Filled:
    """The text and images as they would be sent here, for the composer to take in."""
    template = await get_template(ctx.db, template_id=template_id)
    conversation = await conversations.get_conversation(ctx.db, conversation_id=conversation_id)
    contact = await ctx.db.get(Contact, conversation.contact_id)
    assert contact is not None
    text = await render(ctx, template, contact=contact, staff=member)
    # A signing key its form links made just now is kept, or the links would stop working.
    await ctx.commit()
    return Filled(text=text, images=await files.images(ctx.db, list(template.image_ids)))
