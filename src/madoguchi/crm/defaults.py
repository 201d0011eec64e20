"""What a new workspace starts with (seeded by migration 0002); every one can be edited."""

# 対応ステータス: name, colour.
DEFAULT_STATUSES: list[tuple[str, str]] = [
    ("未対応", "#dc2626"),
    ("対応中", "#2563eb"),
    ("連絡待ち", "#d97706"),
    ("完了", "#16a34a"),
]

# 対応マーク (Liny's eight): name, colour, renamable — the first two keep their names.
DEFAULT_MARKS: list[tuple[str, str, bool]] = [
    ("未確認", "#7c3aed", False),
    ("確認済み", "#16a34a", False),
    ("質問(低)", "#0891b2", True),
    ("質問(中)", "#2563eb", True),
    ("アカウントトラブル", "#b45309", True),
    ("問い合わせ", "#4f46e5", True),
    ("要アプローチ", "#db2777", True),
    ("クレーム", "#dc2626", True),
]


def status_rows() -> list[dict[str, object]]:
    return [{"name": n, "color": c, "position": i} for i, (n, c) in enumerate(DEFAULT_STATUSES)]


def mark_rows() -> list[dict[str, object]]:
    return [
        {"name": n, "color": c, "position": i, "renamable": r}
        for i, (n, c, r) in enumerate(DEFAULT_MARKS)
    ]
