from __future__ import annotations

import re
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from madoguchi.conversations.models import Message
from madoguchi.files.models import StoredFile
from madoguchi.ui.present import safe_next, thread_entries, thumbnail_size
from madoguchi.ui.render import environment, initial, linkify, note_text

TOKYO = ZoneInfo("Asia/Tokyo")
NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)  # 21:00 in Tokyo


def list_time(moment: datetime) -> str:
    template = environment.from_string("{{ moment|list_time }}")
    return template.render(moment=moment, now=NOW, timezone=TOKYO)


@pytest.mark.parametrize(
    ("moment", "shown"),
    [
        (datetime(2026, 11, 24, 0, 5, tzinfo=UTC), "09:05"),  # today in Tokyo
        (datetime(2026, 11, 23, 14, 59, tzinfo=UTC), "11/23"),  # 23:59 yesterday in Tokyo
        (datetime(2026, 11, 23, 15, 0, tzinfo=UTC), "00:00"),  # just after midnight in Tokyo
        (datetime(2026, 1, 2, 3, 0, tzinfo=UTC), "1/2"),
        (datetime(2025, 12, 31, 14, 0, tzinfo=UTC), "2025/12/31"),
    ],
)
def test_list_times_follow_japan_time(moment: datetime, shown: str) -> None:
    assert list_time(moment) == shown


@pytest.mark.parametrize(
    ("language", "shown"),
    [("ja", "2026年11月24日（火）"), ("en", "Tuesday, November 24, 2026")],
)
def test_day_separators(language: str, shown: str) -> None:
    template = environment.from_string("{{ day|day_label }}")
    assert template.render(day=date(2026, 11, 24), language=language) == shown


def test_links_in_messages_are_clickable_and_the_rest_escaped() -> None:
    html = str(linkify("<b>予約</b> https://example.com/menu?a=1&b=2 を見ました"))
    assert "&lt;b&gt;予約&lt;/b&gt;" in html
    assert '<a href="https://example.com/menu?a=1&amp;b=2" target="_blank"' in html
    assert 'rel="noopener noreferrer"' in html
    assert html.endswith(" を見ました")


@pytest.mark.parametrize(
    ("target", "safe"),
    [
        ("/c/12", "/c/12"),
        ("/settings?saved=1", "/settings?saved=1"),
        (None, "/"),
        ("", "/"),
        ("//evil.example", "/"),
        ("/\\evil.example", "/"),
        ("https://evil.example/", "/"),
        ("/ok\r\nSet-Cookie: x", "/"),
    ],
)
def test_next_stays_on_this_site(target: str | None, safe: str) -> None:
    assert safe_next(target) == safe


def test_the_thread_starts_each_day_and_groups_a_minute_from_one_side() -> None:
    def message(kind: str, hour: int, minute: int, second: int = 0) -> Message:
        at = datetime(2026, 11, 24, hour, minute, second, tzinfo=UTC)
        return Message(kind=kind, text="…", created_at=at, sender_member_id=None, delivery=None)

    entries = thread_entries(
        [
            message("inbound", 14, 59, 1),
            message("inbound", 14, 59, 30),  # same minute, same side: one block
            message("inbound", 15, 0, 5),  # 00:00 in Tokyo: a new day
            message("reply", 15, 0, 10),
        ],
        TOKYO,
    )
    assert [e.starts_day for e in entries] == [True, False, True, False]
    assert [e.continued for e in entries] == [True, False, False, False]
    assert [e.day.isoformat() for e in entries] == [
        "2026-11-24",
        "2026-11-24",
        "2026-11-25",
        "2026-11-25",
    ]


@pytest.mark.parametrize(
    ("name", "shown"),
    [
        ("【店長】長谷川 裕美", "長"),
        ("[担当:佐藤] 山田 花子", "山"),
        ("（新規）haru_0312", "H"),
        ("【VIP】", "【"),
        ("  ", "?"),
    ],
)
def test_an_avatar_shows_the_customers_initial_after_the_member_in_charge(
    name: str, shown: str
) -> None:
    assert initial(name) == shown


def test_a_note_marks_the_members_it_mentions_and_stays_escaped() -> None:
    html = str(
        note_text("@鈴木彩 <b>在庫</b>確認 @店長 と @誰か https://e.x/a", ["鈴木 彩", "店長"])
    )
    assert '<span class="mention">@鈴木彩</span>' in html
    assert '<span class="mention">@店長</span>' in html
    assert "@誰か" in html and '<span class="mention">@誰か' not in html
    assert "&lt;b&gt;在庫&lt;/b&gt;" in html
    assert '<a href="https://e.x/a"' in html


def test_a_mention_inside_a_web_address_leaves_the_link_whole() -> None:
    html = str(note_text("見て https://x.example/@evil?a=1&b=@evil と @evil", ["evil"]))
    links = re.findall(r'<a href="([^"]*)"[^>]*>(.*?)</a>', html)
    assert links == [("https://x.example/@evil?a=1&amp;b=@evil",) * 2]
    # Only the mention outside the address is marked, once.
    assert html.count('<span class="mention">') == 1
    assert html.endswith('と <span class="mention">@evil</span>')


@pytest.mark.parametrize(
    ("language", "meta", "shown"),
    [
        ("ja", {"event": "closed", "actor": "彩"}, "彩さんが問い合わせを終了しました"),
        ("en", {"event": "closed", "actor": "Aya"}, "Aya closed this conversation"),
        (
            "ja",
            {"event": "snoozed", "actor": "彩", "until": "2026-11-25T00:00:00+00:00"},
            "彩さんが11/25 9:00までスヌーズしました",
        ),
        ("ja", {"event": "woke", "actor": ""}, "スヌーズが終わりました"),
        ("ja", None, "as stored"),
    ],
)
def test_system_lines_read_in_the_members_language(
    language: str, meta: dict[str, str] | None, shown: str
) -> None:
    message = Message(kind="system", text="as stored", meta=meta, created_at=NOW)
    template = environment.from_string("{{ message|system_line }}")
    assert template.render(message=message, language=language, timezone=TOKYO) == shown


def test_a_thumbnail_keeps_its_proportions_within_the_box() -> None:
    assert thumbnail_size(StoredFile(width=800, height=600)) == (220, 165)
    assert thumbnail_size(StoredFile(width=100, height=300)) == (73, 220)
    assert thumbnail_size(StoredFile(width=50, height=40)) == (50, 40)
    assert thumbnail_size(StoredFile(width=None, height=None)) == (220, 220)
