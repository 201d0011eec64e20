"""Uploading images (``POST /api/v1/files``) and reading stored files (members only)."""

from __future__ import annotations

from fastapi import APIRouter, UploadFile
from fastapi.responses import FileResponse

from madoguchi.files import service
from madoguchi.files.schemas import FileOut
from madoguchi.kit.errors import Invalid, NotFound
from madoguchi.kit.web import CtxDep
from madoguchi.members.dependencies import MemberDep
from madoguchi.workspace import service as workspace

router = APIRouter(tags=["files"])


@router.post("/api/v1/files", response_model=FileOut, status_code=201)
async def upload(file: UploadFile, _member: MemberDep, ctx: CtxDep) -> FileOut:
    """An image (JPEG, PNG, GIF or WebP, judged by its content; at most 10 MB) to send or to
    put in a template: give its ``id`` in ``image_ids``."""
    data = await file.read(service.MAX_IMAGE_BYTES + 1)
    if not data:
        raise Invalid("The file is empty.")
    stored = await service.upload_image(ctx, data=data, name=file.filename or "")
    return FileOut.of(stored)


async def _serve(file_id: int, ctx: CtxDep, *, thumbnail: bool) -> FileResponse:
    stored = await service.get_file(ctx.db, file_id=file_id)
    path = service.path_of(service.root(ctx), stored, thumbnail=thumbnail)
    if not path.is_file():
        raise NotFound("The file %(id)s is missing from the store.", id=file_id)
    media_type = "image/jpeg" if thumbnail and stored.thumbnail_path else stored.content_type
    # An image (checked by its content when stored), a video or a sound shows in the page; any
    # other file a customer sent (it could be a page of its own) is only ever downloaded.
    shown = stored.thumbnail_path is not None or service.played(stored.content_type)
    return FileResponse(
        path,
        media_type=media_type,
        filename=None if shown else (stored.original_name or path.name),
        content_disposition_type="inline" if shown else "attachment",
        headers={
            "Cache-Control": "private, max-age=31536000, immutable",
            "X-Content-Type-Options": "nosniff",
        },
    )


@router.get("/files/{file_id}", include_in_schema=False)
async def read_file(file_id: int, _member: MemberDep, ctx: CtxDep) -> FileResponse:
    return await _serve(file_id, ctx, thumbnail=False)


@router.get("/files/{file_id}/thumbnail", include_in_schema=False)
async def read_thumbnail(file_id: int, _member: MemberDep, ctx: CtxDep) -> FileResponse:
    return await _serve(file_id, ctx, thumbnail=True)


@router.get("/public/files/{file_id}/{variant}/{signature}", include_in_schema=False)
async def read_public_file(file_id: int, variant: str, signature: str, ctx: CtxDep) -> FileResponse:
    """An image behind a signed, unguessable address: for the servers of LINE and Instagram
    and for the web chat, which do not sign in."""
    key = await workspace.signing_key(ctx.db)
    if variant not in ("original", "thumbnail") or not workspace.verify(
        key, service.public_token(file_id, variant), signature
    ):
        raise NotFound("No file with id %(id)s.", id=file_id)
    return await _serve(file_id, ctx, thumbnail=variant == "thumbnail")
