"""The file store: images checked by their content, kept in a folder, with a thumbnail."""

from __future__ import annotations

import hashlib
import io
import mimetypes
import re
import secrets
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path

from PIL import Image, UnidentifiedImageError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from madoguchi.automation.models import Template
from madoguchi.conversations.models import MessageImage, ScheduledMessage, ScheduleState
from madoguchi.files.models import StoredFile
from madoguchi.kit.context import Ctx
from madoguchi.kit.errors import Invalid, NotFound
from madoguchi.kit.text import storable
from madoguchi.workspace import service as workspace

MAX_IMAGE_BYTES = 10 * 1024 * 1024
MAX_IMAGES = 3
# An upload nothing uses after this long (an abandoned form) is removed by the worker.
SWEEP_AFTER = timedelta(days=1)
THUMBNAIL_SIZE = (480, 480)
# Decoding is done in memory: a small file can unpack into a huge bitmap (a "bomb").
MAX_MEGAPIXELS = 40
# Pillow's format name → what we store and serve it as.
IMAGE_TYPES = {"JPEG": "image/jpeg", "PNG": "image/png", "GIF": "image/gif", "WEBP": "image/webp"}
_EXTENSIONS = {"JPEG": "jpg", "PNG": "png", "GIF": "gif", "WEBP": "webp"}
# A customer's video, voice message or file (F34/F35) is kept up to the upload limit: a bigger
# one is noted on its message, not kept (nor held in memory while it is fetched).
MAX_MEDIA_BYTES = MAX_IMAGE_BYTES
# Kinds of media the thread plays where it shows them; any other file is offered to download.
PLAYED = ("video/", "audio/")
_CONTENT_TYPE = re.compile(r"[a-z0-9][a-z0-9.+-]*/[a-z0-9][a-z0-9.+-]*")
_SUFFIX = re.compile(r"\.[A-Za-z0-9]{1,8}")


def root(ctx: Ctx) -> Path:
    return ctx.settings.files_dir


def _inspect(data: bytes) -> tuple[str, int, int]:
    """The format and size of an image, judged by its bytes (a .jpg that is not one fails)."""
    if len(data) > MAX_IMAGE_BYTES:
        raise Invalid("An image can be at most 10 MB.")
    try:
        with Image.open(io.BytesIO(data)) as image:
            image_format = image.format or ""
            width, height = image.size
            image.verify()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        raise Invalid("This file is not a JPEG, PNG, GIF or WebP image.") from None
    if image_format not in IMAGE_TYPES:
        raise Invalid("This file is not a JPEG, PNG, GIF or WebP image.")
    if width * height > MAX_MEGAPIXELS * 1_000_000:
        raise Invalid("An image can be at most %(n)d megapixels.", n=MAX_MEGAPIXELS)
    return image_format, width, height


def _thumbnail(data: bytes) -> bytes:
    """A JPEG at most 480 px wide or high (transparency on white): every channel takes it.
    Decoding the whole image is the real check: a cut-off JPEG passes ``verify``, not this."""
    try:
        return _draw_thumbnail(data)
    except (OSError, SyntaxError, ValueError, EOFError, Image.DecompressionBombError):
        raise Invalid("This image is damaged or incomplete.") from None


def _draw_thumbnail(data: bytes) -> bytes:
    with Image.open(io.BytesIO(data)) as image:
        image.seek(0)
        frame = image.convert("RGBA")
        frame.thumbnail(THUMBNAIL_SIZE)
        flat = Image.new("RGB", frame.size, (255, 255, 255))
        flat.paste(frame, mask=frame.getchannel("A"))
        out = io.BytesIO()
        flat.save(out, format="JPEG", quality=82)
        return out.getvalue()


async def store_image(
    ctx: Ctx, *, data: bytes, name: str = "", folder: str = "images"
) -> StoredFile:
    """Keep an image (inside the caller's transaction: the row is flushed, not committed).
    ``folder``: where in the store (a LINE sticker's is found again by it, see ``sticker``)."""
    image_format, width, height = _inspect(data)
    thumbnail = _thumbnail(data)  # before anything is written: a damaged image leaves nothing
    digest = hashlib.sha256(data).hexdigest()
    stem = f"{folder}/{digest[:2]}/{secrets.token_hex(16)}"
    path = f"{stem}.{_EXTENSIONS[image_format]}"
    thumbnail_path = f"{stem}.thumb.jpg"
    base = root(ctx)
    (base / path).parent.mkdir(parents=True, exist_ok=True)
    (base / path).write_bytes(data)
    (base / thumbnail_path).write_bytes(thumbnail)
    stored = StoredFile(
        path=path,
        thumbnail_path=thumbnail_path,
        content_type=IMAGE_TYPES[image_format],
        size=len(data),
        width=width,
        height=height,
        sha256=digest,
        original_name=storable(Path(name).name)[:255],
        created_at=ctx.now(),
    )
    ctx.db.add(stored)
    try:
        await ctx.db.flush()
    except BaseException:
        for written in (path, thumbnail_path):
            (base / written).unlink(missing_ok=True)
        raise
    return stored


def content_type_of(given: str, name: str = "") -> str:
    """The content type a channel gave (its parameters dropped), else the one the file name
    suggests, else ``application/octet-stream``."""
    cleaned = given.split(";", 1)[0].strip().lower()
    if _CONTENT_TYPE.fullmatch(cleaned) and len(cleaned) <= 100:
        return cleaned
    return mimetypes.guess_type(name)[0] or "application/octet-stream"


def played(content_type: str) -> bool:
    """Whether the thread plays it (a video or a sound) rather than offering it to download."""
    return content_type.startswith(PLAYED)


async def store_media(ctx: Ctx, *, data: bytes, content_type: str, name: str) -> StoredFile:
    """Keep a file a customer sent (a video, a voice message, a document) as it came, with its
    content type and name, inside the caller's transaction. Nothing in it is run or shown as a
    page: anything but a video or a sound is served as a download (``files.api``)."""
    if not data:
        raise Invalid("The file is empty.")
    if len(data) > MAX_MEDIA_BYTES:
        raise Invalid("A file can be at most 10 MB.")
    digest = hashlib.sha256(data).hexdigest()
    shown_name = storable(Path(name).name)[:255]
    suffix = Path(shown_name).suffix
    if not _SUFFIX.fullmatch(suffix):
        suffix = mimetypes.guess_extension(content_type) or ""
    path = f"media/{digest[:2]}/{secrets.token_hex(16)}{suffix.lower()}"
    base = root(ctx)
    (base / path).parent.mkdir(parents=True, exist_ok=True)
    (base / path).write_bytes(data)
    stored = StoredFile(
        path=path,
        thumbnail_path=None,
        content_type=content_type,
        size=len(data),
        sha256=digest,
        original_name=shown_name,
        created_at=ctx.now(),
    )
    ctx.db.add(stored)
    try:
        await ctx.db.flush()
    except BaseException:
        (base / path).unlink(missing_ok=True)
        raise
    return stored


def sticker_folder(channel_kind: str, sticker_id: str) -> str:
    """Where a channel's sticker image is kept: fetched once, found again by this."""
    return f"stickers/{channel_kind}/{sticker_id}"


async def sticker(db: AsyncSession, *, folder: str) -> int | None:
    """The id of the sticker image kept in this folder before, if any."""
    return await db.scalar(
        select(StoredFile.id)
        .where(StoredFile.path.startswith(f"{folder}/", autoescape=True))
        .order_by(StoredFile.id)
        .limit(1)
    )


async def upload_image(ctx: Ctx, *, data: bytes, name: str = "") -> StoredFile:
    """Keep an uploaded image, to be sent or put in a template."""
    stored = await store_image(ctx, data=data, name=name)
    await ctx.commit()
    return stored


async def get_file(db: AsyncSession, *, file_id: int) -> StoredFile:
    stored = await db.get(StoredFile, file_id)
    if stored is None:
        raise NotFound("No file with id %(id)s.", id=file_id)
    return stored


async def files_by_id(db: AsyncSession, file_ids: list[int]) -> dict[int, StoredFile]:
    """Those of these files that exist, by id."""
    if not file_ids:
        return {}
    found = await db.scalars(select(StoredFile).where(StoredFile.id.in_(file_ids)))
    return {stored.id: stored for stored in found}


async def images(db: AsyncSession, file_ids: list[int]) -> list[StoredFile]:
    """These stored images, in the given order; at most three, each must exist."""
    if len(file_ids) > MAX_IMAGES:
        raise Invalid("At most %(n)d images at once.", n=MAX_IMAGES)
    if len(set(file_ids)) != len(file_ids):
        raise Invalid("The same image is given twice.")
    found = {
        f.id: f for f in await db.scalars(select(StoredFile).where(StoredFile.id.in_(file_ids)))
    }
    missing = [i for i in file_ids if i not in found]
    if missing:
        raise NotFound("No file with id %(id)s.", id=missing[0])
    return [found[i] for i in file_ids]


def path_of(ctx_root: Path, stored: StoredFile, *, thumbnail: bool = False) -> Path:
    relative = stored.thumbnail_path if thumbnail and stored.thumbnail_path else stored.path
    return ctx_root / relative


def remove_files(base: Path, stored: list[StoredFile]) -> None:
    """Delete the bytes of files whose rows are gone (after the commit)."""
    for row in stored:
        for relative in (row.path, row.thumbnail_path):
            if relative:
                (base / relative).unlink(missing_ok=True)


async def unreferenced(db: AsyncSession, file_ids: set[int]) -> list[StoredFile]:
    """Of these files, those no message, template or waiting scheduled message uses."""
    if not file_ids:
        return []
    still_used = set(
        await db.scalars(
            select(MessageImage.file_id).where(MessageImage.file_id.in_(file_ids)).distinct()
        )
    )
    for template_images in await db.scalars(select(Template.image_ids)):
        still_used.update(set(template_images or []) & file_ids)
    for waiting_images in await db.scalars(
        select(ScheduledMessage.image_ids).where(ScheduledMessage.state == ScheduleState.pending)
    ):
        still_used.update(set(waiting_images or []) & file_ids)
    candidates = file_ids - still_used
    if not candidates:
        return []
    return list(await db.scalars(select(StoredFile).where(StoredFile.id.in_(candidates))))


def public_token(file_id: int, variant: str) -> str:
    return f"file:{file_id}:{variant}"


async def public_urls(db: AsyncSession, base_url: str, stored: StoredFile) -> tuple[str, str]:
    """Signed addresses of an image and its thumbnail that work without signing in."""
    key = await workspace.signing_key(db)
    base = base_url.rstrip("/")
    return tuple(  # type: ignore[return-value]
        f"{base}/public/files/{stored.id}/{variant}/"
        f"{workspace.sign(key, public_token(stored.id, variant))}"
        for variant in ("original", "thumbnail")
    )


async def message_images(
    db: AsyncSession, message_ids: Sequence[int]
) -> dict[int, list[StoredFile]]:
    """Each message's images, in order."""
    result: dict[int, list[StoredFile]] = {message_id: [] for message_id in message_ids}
    if not message_ids:
        return result
    rows = await db.execute(
        select(MessageImage.message_id, StoredFile)
        .join(StoredFile, StoredFile.id == MessageImage.file_id)
        .where(MessageImage.message_id.in_(message_ids))
        .order_by(MessageImage.message_id, MessageImage.position)
    )
    for message_id, stored in rows:
        result[message_id].append(stored)
    return result


async def sweep_unused(ctx: Ctx, *, now: datetime, older_than: timedelta = SWEEP_AFTER) -> int:
    """Remove images uploaded but never used (an abandoned form): kept a day, then gone."""
    candidates = set(
        await ctx.db.scalars(
            select(StoredFile.id).where(StoredFile.created_at < now - older_than).limit(1000)
        )
    )
    orphans = await unreferenced(ctx.db, candidates)
    for stored in orphans:
        await ctx.db.delete(stored)
    await ctx.commit()
    remove_files(root(ctx), orphans)
    return len(orphans)
