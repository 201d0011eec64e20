from __future__ import annotations

from pydantic import BaseModel

from madoguchi.files.models import StoredFile


class FileOut(BaseModel):
    id: int
    content_type: str
    size: int
    width: int | None
    height: int | None
    url: str
    thumbnail_url: str
    # The name it came with (a customer's file, an upload), else empty.
    name: str = ""

    @classmethod
    def of(cls, stored: StoredFile) -> FileOut:
        return cls(
            id=stored.id,
            content_type=stored.content_type,
            size=stored.size,
            width=stored.width,
            height=stored.height,
            url=f"/files/{stored.id}",
            thumbnail_url=f"/files/{stored.id}/thumbnail",
            name=stored.original_name,
        )
