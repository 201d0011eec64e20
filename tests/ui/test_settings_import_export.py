"""インポート / エクスポート in the settings: a salon owner's Shift_JIS file with a broken row, the
column mapping they can change, a wrong file, and the CSV download Excel opens."""

from __future__ import annotations

import csv
import io
from html.parser import HTMLParser
from typing import Any

import httpx
import pytest
from openpyxl import Workbook

from madoguchi.ui import settings_transfer
from tests.fixtures import Factory
from tests.ui.conftest import HTML, HTMX, sign_in

HEADER = (
    "表示名,メールアドレス,電話番号,会員番号,タグ,ステータス,来店ポイント,誕生日,メルマガ受信\r\n"
)
ROWS = [
    "山田 花子,hanako@example.jp,090-1111-2222,A001,VIP、くせ毛,対応中,1200,1990/04/01,はい\r\n",
    "佐藤 美咲,misaki@example.jp,,A002,新規,,300,,いいえ\r\n",
    "壊れた 行,not-an-address,,A003,,,,,\r\n",
    "高橋 健太,,080-3333-4444,A004,,,たくさん,,\r\n",
]
SJIS = (HEADER + "".join(ROWS)).encode("cp932")


class FormReader(HTMLParser):
    """What a browser would send from the preview: the hidden inputs and each select's choice."""

    def __init__(self) -> None:
        super().__init__()
        self.values: dict[str, str] = {}
        self._select: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "input" and found.get("type") == "hidden" and found.get("name"):
            self.values[str(found["name"])] = found.get("value") or ""
        elif tag == "select" and found.get("name"):
            self._select = str(found["name"])
            self.values.setdefault(self._select, "")
        elif tag == "option" and self._select and "selected" in found:
            self.values[self._select] = found.get("value") or ""

    def handle_endtag(self, tag: str) -> None:
        if tag == "select":
            self._select = None


def chosen(html: str) -> dict[str, str]:
    reader = FormReader()
    reader.feed(html)
    return {k: v for k, v in reader.values.items() if k == "headers" or k.startswith("column-")}


@pytest.fixture
async def owner(client: httpx.AsyncClient, factory: Factory) -> httpx.AsyncClient:
    await sign_in(client, await factory.member(role="owner", name="店長"))
    for field in (
        {"key": "points", "label": "来店ポイント", "type": "number"},
        {"key": "birthday", "label": "生年月日", "type": "date"},
    ):
        assert (await client.post("/api/v1/fields", json=field)).status_code == 201
    return client


def upload(name: str, content: bytes, **form: str) -> dict[str, Any]:
    return {"files": {"file": (name, content, "text/csv")}, "data": {"encoding": "auto", **form}}


async def preview(client: httpx.AsyncClient, name: str, content: bytes) -> httpx.Response:
    return await client.post(
        "/settings/import-export/preview", headers=HTMX, **upload(name, content)
    )


async def contacts(client: httpx.AsyncClient) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = (await client.get("/api/v1/contacts?limit=500")).json()["items"]
    return items


async def test_a_shift_jis_file_with_a_broken_row_lists_it_and_a_second_import_updates(
    owner: httpx.AsyncClient,
) -> None:
    shown = await preview(owner, "顧客名簿.csv", SJIS)
    assert shown.status_code == 200
    assert 'id="import-preview"' in shown.text and "<html" not in shown.text
    assert "顧客名簿.csv：4行。" in shown.text
    form = chosen(shown.text)
    # Known headers and the field labels are guessed; 誕生日 matches no field (it is 生年月日).
    assert form["column-0"] == "display_name"
    assert form["column-3"] == "external_id"
    assert form["column-6"] == "field:points"
    assert form["column-7"] == ""
    assert "山田 花子 / 佐藤 美咲 / 壊れた 行" in shown.text  # the first values of a column

    form["column-7"] = "field:birthday"  # the owner points 誕生日 at 生年月日
    imported = await owner.post(
        "/settings/import-export/import", headers=HTMX, **upload("顧客名簿.csv", SJIS, **form)
    )
    assert imported.status_code == 200
    page = imported.text
    assert "取り込みが終わりました" in page
    assert "新規 2件、更新 0件、取り込めなかった行 2件です。" in page
    assert "4行目" in page and "5行目" in page
    assert "not-an-address はメールアドレスの形式ではありません。" in page
    assert "来店ポイント には数値を入力してください（入力値：たくさん）。" in page
    # No English reason slipped through.
    assert "takes" not in page

    people = {c["external_id"]: c for c in await contacts(owner)}
    assert sorted(people) == ["A001", "A002"]
    hanako = (await owner.get(f"/api/v1/contacts/{people['A001']['id']}")).json()
    assert hanako["fields"] == {"points": 1200, "birthday": "1990-04-01"}
    assert hanako["status"]["name"] == "対応中" and hanako["mail_opt_in"] is True
    assert sorted(t["name"] for t in hanako["tags"]) == ["VIP", "くせ毛"]

    again = await owner.post(
        "/settings/import-export/import", headers=HTMX, **upload("顧客名簿.csv", SJIS, **form)
    )
    assert "新規 0件、更新 2件、取り込めなかった行 2件です。" in again.text
    assert len(await contacts(owner)) == 2


SALON = (
    "お客様名,タグ,メモ\r\n"
    '加藤 美穂,"VIP;細毛",カラーは 6 トーンまで\r\n'
    '伊藤 彩,"カラー／パーマ | VIP\n紹介；",\r\n'
    '中村 優,"メニュー：カット、, ;",前髪は眉の上\r\n'
).encode("cp932")


async def test_a_salon_sheet_splits_its_tags_shows_the_new_ones_first_and_keeps_the_memos(
    owner: httpx.AsyncClient,
) -> None:
    await owner.post("/api/v1/tags", json={"name": "VIP"})
    shown = await preview(owner, "サロン.csv", SALON)
    assert shown.status_code == 200
    form = chosen(shown.text)
    assert form == {
        "headers": form["headers"],
        "column-0": "display_name",
        "column-1": "tags",
        "column-2": "memo",
    }
    new_tags = shown.text.split('id="import-new-tags"')[1].split("</section>")[0]
    assert "新しいフォルダ（1件）" in new_tags and "新しいタグ（5件）" in new_tags
    for name in ("細毛", "カラー", "パーマ", "紹介", "メニュー：カット"):
        assert f'<li class="chip">{name}</li>' in new_tags
    assert '<li class="chip">メニュー</li>' in new_tags  # the folder
    assert "VIP" not in new_tags and "VIP;細毛" not in new_tags
    assert (await owner.get("/api/v1/tags")).json()["items"][0]["name"] == "VIP"  # nothing made yet

    # The owner no longer reads the tags: the list says no tag is made.
    form["column-1"] = ""
    again = await owner.post(
        "/settings/import-export/preview", headers=HTMX, **upload("サロン.csv", SALON, **form)
    )
    assert chosen(again.text)["column-1"] == "" and "新しく作られるタグはありません" in again.text

    form["column-1"] = "tags"
    for _ in range(2):  # a second import makes no second memo nor tag
        done = await owner.post(
            "/settings/import-export/import", headers=HTMX, **upload("サロン.csv", SALON, **form)
        )
        assert done.status_code == 200 and "取り込めなかった行 0件" in done.text
    tag_list = (await owner.get("/api/v1/tags")).json()["items"]
    assert sorted(t["name"] for t in tag_list) == sorted(
        ["VIP", "カット", "カラー", "パーマ", "紹介", "細毛"]
    )
    folders = (await owner.get("/api/v1/tag-folders")).json()["items"]
    cut = next(t for t in tag_list if t["name"] == "カット")
    assert [f["name"] for f in folders] == ["メニュー"] and cut["folder_id"] == folders[0]["id"]
    people = {c["display_name"]: c["id"] for c in await contacts(owner)}
    tagged = {}
    for name, number in people.items():
        detail = (await owner.get(f"/api/v1/contacts/{number}")).json()
        tagged[name] = sorted(t["name"] for t in detail["tags"])
    assert tagged == {
        "加藤 美穂": sorted(["VIP", "細毛"]),
        "伊藤 彩": sorted(["VIP", "カラー", "パーマ", "紹介"]),
        "中村 優": ["カット"],
    }
    memos = (await owner.get(f"/api/v1/contacts/{people['加藤 美穂']}/memos")).json()["items"]
    assert [m["body"] for m in memos] == ["カラーは 6 トーンまで"]
    assert (await owner.get(f"/api/v1/contacts/{people['伊藤 彩']}/memos")).json()["items"] == []


async def test_a_column_set_to_dont_import_is_left_out(owner: httpx.AsyncClient) -> None:
    form = chosen((await preview(owner, "list.csv", SJIS)).text)
    form["column-4"] = ""  # タグ: 取り込まない
    form["column-2"] = ""  # 電話番号
    await owner.post(
        "/settings/import-export/import", headers=HTMX, **upload("list.csv", SJIS, **form)
    )
    for person in await contacts(owner):
        detail = (await owner.get(f"/api/v1/contacts/{person['id']}")).json()
        assert detail["tags"] == [] and detail["phone"] is None


async def test_two_columns_filling_one_thing_are_refused_before_anything_is_imported(
    owner: httpx.AsyncClient,
) -> None:
    form = chosen((await preview(owner, "list.csv", SJIS)).text)
    form["column-8"] = "email"
    response = await owner.post(
        "/settings/import-export/import", headers=HTMX, **upload("list.csv", SJIS, **form)
    )
    assert response.status_code == 422
    assert response.headers["hx-retarget"] == "#import-preview"
    assert "メールアドレス" in response.text and 'id="import-error"' in response.text
    assert chosen(response.text)["column-8"] == "email"  # the choice is kept to be fixed
    assert await contacts(owner) == []


async def test_another_file_than_the_previewed_one_is_previewed_not_imported(
    owner: httpx.AsyncClient,
) -> None:
    form = chosen((await preview(owner, "list.csv", SJIS)).text)
    other = "名前,メール\r\n鈴木 一郎,ichiro@example.jp\r\n".encode()
    response = await owner.post(
        "/settings/import-export/import", headers=HTMX, **upload("other.csv", other, **form)
    )
    assert response.status_code == 422
    assert "プレビューしたファイルと違います。" in response.text
    assert chosen(response.text)["column-0"] == "display_name"
    assert await contacts(owner) == []


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("顧客.pdf", b"%PDF-1.7", "顧客.pdf"),
        ("顧客.xlsx", b"not a zip at all", "Excel"),
        ("空.csv", b"", "見出し"),
        ("見出しだけ.csv", "メモ,備考\r\nあ,い\r\n".encode(), "表示名"),
    ],
)
async def test_a_wrong_file_gets_a_clear_message(
    owner: httpx.AsyncClient, name: str, content: bytes, message: str
) -> None:
    response = await preview(owner, name, content)
    if response.status_code == 200:
        # Nothing known in the headers: the columns are shown for the owner to choose.
        assert "各列の取り込み先を選んでください。" in response.text
    else:
        assert response.status_code == 422
        assert 'id="import-error"' in response.text
    assert message in response.text


async def test_no_file_chosen_is_said_so(owner: httpx.AsyncClient) -> None:
    response = await owner.post(
        "/settings/import-export/preview", headers=HTMX, data={"encoding": "auto"}
    )
    assert response.status_code == 422
    assert "取り込む .csv か .xlsx のファイルを選んでください。" in response.text


async def test_a_file_over_the_bound_is_refused_with_the_way_out(
    owner: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(settings_transfer, "MAX_ROWS", 3)
    response = await preview(owner, "list.csv", SJIS)
    assert response.status_code == 422
    assert "ここで一度に取り込めるのは 3行までです。" in response.text
    assert "madoguchi import contacts" in response.text


async def test_a_file_too_large_is_refused_with_a_sentence(
    owner: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(settings_transfer, "MAX_FILE_BYTES", 100)
    response = await preview(owner, "list.csv", SJIS * 2)
    assert response.status_code == 422
    assert "MB を超えています。" in response.text and "ファイルが" in response.text


async def test_an_excel_workbook_is_read(owner: httpx.AsyncClient) -> None:
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.append(["氏名", "メールアドレス", "来店ポイント"])
    sheet.append(["中村 恵", "megumi@example.jp", 50])
    buffer = io.BytesIO()
    workbook.save(buffer)
    content = buffer.getvalue()
    form = chosen((await preview(owner, "名簿.xlsx", content)).text)
    assert form["column-0"] == "display_name" and form["column-2"] == "field:points"
    result = await owner.post(
        "/settings/import-export/import", headers=HTMX, **upload("名簿.xlsx", content, **form)
    )
    assert "新規 1件、更新 0件、取り込めなかった行 0件です。" in result.text
    [megumi] = await contacts(owner)
    assert megumi["display_name"] == "中村 恵"


async def test_without_script_the_preview_is_a_page_that_asks_for_the_file_again(
    owner: httpx.AsyncClient,
) -> None:
    response = await owner.post(
        "/settings/import-export/preview", headers=HTML, **upload("list.csv", SJIS)
    )
    assert response.status_code == 200
    assert "<html" in response.text and 'name="column-0"' in response.text
    assert "もう一度同じファイルを選んで" in response.text


async def test_the_export_is_utf8_with_a_bom_for_excel_and_holds_every_contact(
    owner: httpx.AsyncClient,
) -> None:
    for name in ("山田 花子", "髙橋 一郎"):
        await owner.post("/api/v1/contacts", json={"display_name": name, "email": None})
    response = await owner.get("/settings/import-export/export?encoding=utf-8")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    assert response.content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows[0][:2] == ["madoguchi_id", "表示名"]
    assert rows[0][-2:] == ["来店ポイント", "生年月日"]
    assert sorted(row[1] for row in rows[1:]) == ["山田 花子", "髙橋 一郎"]


async def test_the_shift_jis_export_writes_a_stand_in_for_what_it_cannot_hold_and_counts_it(
    owner: httpx.AsyncClient,
) -> None:
    await owner.post("/api/v1/contacts", json={"display_name": "山田 花子"})
    plain = await owner.get("/settings/import-export/export?encoding=cp932")
    assert plain.status_code == 200
    assert "山田 花子" in plain.content.decode("cp932")
    assert not plain.content.startswith(b"\xef\xbb\xbf")
    assert plain.headers["x-madoguchi-replaced-cells"] == "0"

    # The demo's LINE name, a family emoji (one stand-in, not five), a rare kanji, a formula.
    for name in ("ようこ🌷", "👨\u200d👩\u200d👧 家族", "𠮷田 太郎", "=1+2 🌸"):
        await owner.post("/api/v1/contacts", json={"display_name": name})
    sjis = await owner.get("/settings/import-export/export?encoding=cp932", headers=HTML)
    assert sjis.status_code == 200
    assert sjis.headers["x-madoguchi-replaced-cells"] == "4"
    rows = list(csv.reader(io.StringIO(sjis.content.decode("cp932"))))
    names = sorted(row[1] for row in rows[1:])
    assert names == sorted(["'=1+2 〓", "ようこ〓", "山田 花子", "〓 家族", "〓田 太郎"])
    utf8 = await owner.get("/settings/import-export/export?encoding=utf-8")
    assert utf8.headers["x-madoguchi-replaced-cells"] == "0"
    assert "ようこ🌷" in utf8.content.decode("utf-8-sig")


def test_rejected_reasons_are_shown_in_the_members_language() -> None:
    from madoguchi.contacts.transfer import Rejected
    from madoguchi.kit.errors import Invalid
    from madoguchi.kit.i18n import translate_error

    status = Rejected(line=3, error=Invalid("No status named %(name)s.", name="存在しない"))
    assert (
        translate_error(status.error, "ja")
        == "「存在しない」という対応ステータスは見つかりません。"
    )
    assert translate_error(status.error, "en") == status.reason == "No status named 存在しない."
    address = Rejected(line=4, error=Invalid("%(email)s is not an e-mail address.", email="x"))
    assert "メールアドレス" in translate_error(address.error, "ja")
