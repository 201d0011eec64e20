"""Static files answered from memory (kit/static.py): the same answers as Starlette's StaticFiles,
a changed file served fresh, and nothing outside the folder."""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Mount

from madoguchi.kit.static import KeptStaticFiles


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    served = tmp_path / "static"
    (served / "js").mkdir(parents=True)
    (served / "js" / "app.js").write_text("console.log('一');\n", encoding="utf-8")
    (served / "icon.svg").write_text("<svg/>", encoding="utf-8")
    (tmp_path / "secret.txt").write_text("not served", encoding="utf-8")
    return served


def client_for(folder: Path) -> httpx.AsyncClient:
    app = Starlette(routes=[Mount("/static", KeptStaticFiles(directory=folder))])
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


async def test_a_file_is_served_with_its_type_and_validators_and_304_when_unchanged(
    folder: Path,
) -> None:
    async with client_for(folder) as http:
        first = await http.get("/static/js/app.js")
        assert first.status_code == 200
        assert first.text == "console.log('一');\n"
        assert first.headers["content-type"].startswith("text/javascript")
        assert first.headers["content-length"] == str(len(first.content))
        etag = first.headers["etag"]
        again = await http.get("/static/js/app.js", headers={"If-None-Match": etag})
        assert again.status_code == 304 and again.content == b""
        since = await http.get(
            "/static/js/app.js", headers={"If-Modified-Since": first.headers["last-modified"]}
        )
        assert since.status_code == 304


async def test_a_changed_file_is_served_fresh(folder: Path) -> None:
    script = folder / "js" / "app.js"
    async with client_for(folder) as http:
        before = await http.get("/static/js/app.js")
        script.write_text("console.log('二つ目');\n", encoding="utf-8")
        stamp = script.stat().st_mtime + 5
        os.utime(script, (stamp, stamp))
        after = await http.get("/static/js/app.js")
    assert after.text == "console.log('二つ目');\n"
    assert after.headers["etag"] != before.headers["etag"]


@pytest.mark.parametrize(
    "path", ["/static/../secret.txt", "/static/%2e%2e/secret.txt", "/static/js", "/static/none.js"]
)
async def test_nothing_outside_the_folder_and_no_folders_or_missing_files(
    folder: Path, path: str
) -> None:
    async with client_for(folder) as http:
        answer = await http.get(path)
    assert answer.status_code == 404
    assert "not served" not in answer.text


async def test_ranges_head_and_other_methods_answer_as_starlette_s_own(folder: Path) -> None:
    async with client_for(folder) as http:
        part = await http.get("/static/icon.svg", headers={"Range": "bytes=0-1"})
        assert part.status_code == 206 and part.content == b"<s"
        head = await http.head("/static/icon.svg")
        assert head.status_code == 200 and head.content == b""
        assert head.headers["content-length"] == "6"
        post = await http.post("/static/icon.svg")
        assert post.status_code == 405
