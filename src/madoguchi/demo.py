"""Demo data: a hair salon's inbox (``madoguchi demo``) and N contacts made fast (``--scale N``).

Members and channels come from their services. Conversation histories have timestamps in the past,
which no service writes, so one writer (``write_histories``) stores them in bulk while keeping every
invariant the services keep: ``search_text`` and the search index for messages and contacts, the
conversation's ``last_*`` fields, and a ``conversation_unreads`` row per member for what is unread.
"""

from __future__ import annotations

import hashlib
import random
import secrets
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any, cast
from zoneinfo import ZoneInfo

from sqlalchemy import Table, insert, select, text

from madoguchi.channels import service as channels
from madoguchi.channels.models import Channel, ChannelKind
from madoguchi.contacts.models import Contact
from madoguchi.conversations.models import (
    Conversation,
    ConversationFollower,
    ConversationState,
    ConversationUnread,
    Message,
    MessageKind,
)
from madoguchi.conversations.service import mentioned_members
from madoguchi.conversations.workflow import SYSTEM_TEXT
from madoguchi.kit import search
from madoguchi.kit.context import Ctx
from madoguchi.kit.errors import Invalid
from madoguchi.kit.security import new_password
from madoguchi.kit.text import preview, search_key
from madoguchi.members import service as members
from madoguchi.members.models import Member, Role
from madoguchi.notifications.models import Notification

# --- the one writer of histories -----------------------------------------------------------


@dataclass(frozen=True)
class HistoryMessage:
    kind: MessageKind
    text: str
    at: datetime
    sender_member_id: int | None = None
    # The channel's message id (inbound only).
    external_id: str | None = None
    # A system line's event and arguments (conversations.workflow).
    meta: dict[str, Any] | None = None


@dataclass(frozen=True)
class ContactHistory:
    """A contact and its one conversation, messages oldest first."""

    channel: Channel
    external_id: str
    channel_name: str
    display_name: str
    messages: Sequence[HistoryMessage]
    # Every member has opened it and marked it read (確認済み); otherwise what the customer wrote
    # after the last reply is unread for every member.
    read: bool = True
    assignee_id: int | None = None


@dataclass(frozen=True)
class Written:
    contacts: int
    messages: int
    unread: int


def _table(model: type[Any]) -> Table:
    return cast(Table, model.__table__)


async def _reserve_ids(ctx: Ctx, table: Table, count: int) -> list[int]:
    """``count`` fresh ids for ``table``, never used before (the search index is keyed on them)."""
    if count == 0:
        return []
    name = table.name
    if ctx.dialect == "sqlite":
        # The writer transaction holds the database lock: the block after the highest id ever
        # given out is ours, and inserting it moves sqlite_sequence past it.
        top = await ctx.db.scalar(
            text(
                "SELECT max(coalesce((SELECT seq FROM sqlite_sequence WHERE name = :name), 0), "
                f"coalesce((SELECT max(id) FROM {name}), 0))"
            ),
            {"name": name},
        )
        start = int(top or 0) + 1
        return list(range(start, start + count))
    rows = await ctx.db.scalars(
        text(f"SELECT nextval(pg_get_serial_sequence('{name}', 'id')) FROM generate_series(1, :n)"),
        {"n": count},
    )
    return [int(row) for row in rows]


def _unread_count(messages: Sequence[HistoryMessage]) -> int:
    """Customer messages since the last reply: what raising the unread mark counted."""
    count = 0
    for message in reversed(messages):
        if message.kind == MessageKind.reply:
            break
        if message.kind == MessageKind.inbound:
            count += 1
    return count


@dataclass(frozen=True)
class _Thread:
    """A history as the services would have stored it: the assignment as a system line, and
    who was mentioned in which note."""

    messages: list[HistoryMessage]
    mentions: dict[int, list[Member]]  # index in messages → mentioned members
    assigned_by: Member | None


def _thread(history: ContactHistory, members: dict[int, Member]) -> _Thread:
    messages = list(history.messages)
    active = list(members.values())
    mentions = {
        index: mentioned_members(message.text, active)
        for index, message in enumerate(messages)
        if message.kind == MessageKind.note
    }
    assignee = members.get(history.assignee_id) if history.assignee_id else None
    if assignee is None:
        return _Thread(messages, mentions, None)
    # Assigned right after a note asking them to take it (担当でお願いします), else they took it
    # themselves (担当者になる) just before they first wrote, or last.
    asking = next((i for i, found in mentions.items() if assignee in found), None)
    if asking is not None:
        at_index, at = asking + 1, messages[asking].at
        actor = members.get(messages[asking].sender_member_id or 0, assignee)
    else:
        at_index = next(
            (i for i, m in enumerate(messages) if m.sender_member_id == assignee.id),
            len(messages),
        )
        at, actor = messages[min(at_index, len(messages) - 1)].at, assignee
    event = "self_assigned" if actor.id == assignee.id else "assigned"
    meta: dict[str, Any] = {"event": event, "actor": actor.name}
    if event == "assigned":
        meta["member"] = assignee.name
    line = HistoryMessage(
        kind=MessageKind.system,
        text=SYSTEM_TEXT[event] % {"actor": actor.name, "member": assignee.name},
        at=at,
        sender_member_id=actor.id,
        meta=meta,
    )
    messages.insert(at_index, line)
    return _Thread(
        messages,
        {(i + 1 if i >= at_index else i): found for i, found in mentions.items()},
        actor,
    )


async def write_histories(
    ctx: Ctx, *, histories: Sequence[ContactHistory], members: Sequence[Member]
) -> Written:
    """Store contacts with their past conversations in bulk, inside the caller's transaction,
    as the services would have: search keys and index, the conversation's ``last_*`` fields,
    unread rows for every member, an assignment's system line and notification, and followers
    and notifications for @mentions in notes. ``members`` are the active members."""
    by_id = {member.id: member for member in members}
    threads = [_thread(history, by_id) for history in histories]
    for thread in threads:
        if not any(m.kind != MessageKind.system for m in thread.messages):
            raise ValueError("a history needs at least one message")
    contact_ids = await _reserve_ids(ctx, _table(Contact), len(histories))
    conversation_ids = await _reserve_ids(ctx, _table(Conversation), len(histories))
    message_ids = iter(
        await _reserve_ids(ctx, _table(Message), sum(len(t.messages) for t in threads))
    )
    # Scale histories repeat phrases: normalise each distinct text once.
    keys: dict[str, str] = {}
    contact_rows: list[dict[str, Any]] = []
    conversation_rows: list[dict[str, Any]] = []
    message_rows: list[dict[str, Any]] = []
    system_rows: list[dict[str, Any]] = []
    unread_rows: list[dict[str, Any]] = []
    follower_rows: list[dict[str, Any]] = []
    notification_rows: list[dict[str, Any]] = []
    contact_texts: list[tuple[int, str]] = []
    message_texts: list[tuple[int, str]] = []
    for history, thread, contact_id, conversation_id in zip(
        histories, threads, contact_ids, conversation_ids, strict=True
    ):
        channel = history.channel
        shown = [m for m in thread.messages if m.kind != MessageKind.system]
        first, last = thread.messages[0], shown[-1]
        unread = 0 if history.read else _unread_count(shown)
        # Notifications about a conversation still waiting for an answer are not read yet.
        read_at = None if unread else last.at
        names = f"{history.channel_name} {history.display_name}"
        contact_rows.append(
            {
                "id": contact_id,
                "channel_id": channel.id,
                "external_id": history.external_id,
                "channel_name": history.channel_name,
                "display_name": history.display_name,
                "search_text": search_key(names),
                # The copy the filtered lists walk (conversations.repository._listing).
                "activity_at": last.at,
                "created_at": first.at,
                "updated_at": first.at,
            }
        )
        contact_texts.append((contact_id, names))
        reply_delivery = channels.initial_delivery(channel)
        followers: set[int] = set()
        for index, message in enumerate(thread.messages):
            message_id = next(message_ids)
            row: dict[str, Any] = {
                "id": message_id,
                "conversation_id": conversation_id,
                "channel_id": channel.id,
                "kind": message.kind,
                "text": message.text,
                "external_id": message.external_id,
                "sender_member_id": message.sender_member_id,
                "delivery": reply_delivery if message.kind == MessageKind.reply else None,
                "search_text": "",
                "created_at": message.at,
            }
            if message.kind == MessageKind.system:
                # System lines are neither searched nor shown in the list (workflow._system).
                system_rows.append({**row, "meta": message.meta})
                assignee = by_id[history.assignee_id or 0]
                if thread.assigned_by is not None and thread.assigned_by.id != assignee.id:
                    notification_rows.append(
                        {
                            "member_id": assignee.id,
                            "kind": "assigned",
                            "conversation_id": conversation_id,
                            "message_id": None,
                            "actor_id": thread.assigned_by.id,
                            "created_at": message.at,
                            "read_at": read_at,
                        }
                    )
                continue
            # Without a "meta" key: SQL NULL, as the ORM leaves it (None would be JSON null).
            message_rows.append(row)
            key = keys.get(message.text)
            if key is None:
                key = keys[message.text] = search_key(message.text)
            row["search_text"] = key
            message_texts.append((message_id, message.text))
            for mentioned in thread.mentions.get(index, []):
                if mentioned.id != history.assignee_id:
                    followers.add(mentioned.id)
                if mentioned.id != message.sender_member_id:
                    notification_rows.append(
                        {
                            "member_id": mentioned.id,
                            "kind": "mentioned",
                            "conversation_id": conversation_id,
                            "message_id": message_id,
                            "actor_id": message.sender_member_id,
                            "created_at": message.at,
                            "read_at": read_at,
                        }
                    )
        inbound = [m.at for m in shown if m.kind == MessageKind.inbound]
        conversation_rows.append(
            {
                "id": conversation_id,
                "contact_id": contact_id,
                "channel_id": channel.id,
                "state": ConversationState.open,
                "assignee_id": history.assignee_id,
                "last_activity_at": last.at,
                "last_inbound_at": inbound[-1] if inbound else None,
                "last_message_kind": last.kind,
                "last_message_preview": preview(last.text),
                "created_at": first.at,
            }
        )
        follower_rows += [
            {"conversation_id": conversation_id, "member_id": member_id, "created_at": first.at}
            for member_id in sorted(followers)
        ]
        if unread:
            unread_rows += [
                {
                    "member_id": member.id,
                    "conversation_id": conversation_id,
                    "activity_at": last.at,
                    "count": unread,
                }
                for member in members
            ]
    for row, notification_id in zip(
        notification_rows,
        await _reserve_ids(ctx, _table(Notification), len(notification_rows)),
        strict=True,
    ):
        row["id"] = notification_id
    for model, rows in (
        (Contact, contact_rows),
        (Conversation, conversation_rows),
        (Message, message_rows),
        (Message, system_rows),
        (ConversationUnread, unread_rows),
        (ConversationFollower, follower_rows),
        (Notification, notification_rows),
    ):
        if rows:
            await ctx.db.execute(insert(_table(model)), rows)
    await search.add(ctx.db, search.CONTACTS, contact_texts)
    await search.add(ctx.db, search.MESSAGES, message_texts)
    return Written(
        contacts=len(contact_rows),
        messages=len(message_rows) + len(system_rows),
        unread=len({row["conversation_id"] for row in unread_rows}),
    )


# --- time: Japan, salon hours ---------------------------------------------------------------

OPENS = time(10, 0)
CLOSES = time(20, 0)
CLOSED_WEEKDAY = 1  # 火曜定休


def _zone(ctx: Ctx) -> tzinfo:
    return ZoneInfo(ctx.settings.timezone)


def _in_salon_hours(at: datetime) -> datetime:
    """When staff can answer something that arrives at ``at`` (local time)."""
    day = at.date()
    if at.weekday() != CLOSED_WEEKDAY and OPENS <= at.time() < CLOSES:
        return at
    if at.time() >= CLOSES:
        day += timedelta(days=1)
    if day.weekday() == CLOSED_WEEKDAY:
        day += timedelta(days=1)
    # A few minutes after opening, varying with the original minute.
    return datetime.combine(day, OPENS, at.tzinfo) + timedelta(minutes=4 + at.minute % 23)


def _timeline(
    *, first_day: date, start: time, steps: Sequence[tuple[bool, int]], zone: tzinfo, now: datetime
) -> list[datetime]:
    """UTC times for ``steps`` of (by staff, minutes after the previous one), the first at
    ``start`` on ``first_day`` or as many days earlier as it takes to end before ``now``."""
    latest = now - timedelta(minutes=1)
    for days_back in range(60):
        at = datetime.combine(first_day - timedelta(days=days_back), start, zone)
        times: list[datetime] = []
        for index, (by_staff, delay) in enumerate(steps):
            if index:
                at += timedelta(minutes=delay)
            if by_staff:
                at = _in_salon_hours(at)
            times.append(at.astimezone(UTC))
        if times[-1] <= latest:
            return times
    raise ValueError("steps too long to fit before now")


# --- members and channels -------------------------------------------------------------------


@dataclass(frozen=True)
class Staff:
    member: Member
    # The name used in 【担当者】 display names and in @mentions.
    short_name: str


# key (the scripts' name for them), e-mail, name, role. Stylists go by their given names, as
# in 【美咲】 display names and @美咲 mentions; the owner is 店長 in display names.
_SALON_MEMBERS = (
    ("owner", "owner@example.com", "中村 恵", Role.owner),
    ("misaki", "misaki@example.com", "美咲", Role.agent),
    ("shota", "shota@example.com", "翔太", Role.agent),
)

_SALON_CHANNELS: tuple[tuple[str, str, dict[str, Any]], ...] = (
    (ChannelKind.line, "ルミエール公式LINE", {}),
    (ChannelKind.instagram, "Instagram @lumiere_hair", {}),
    (
        ChannelKind.email,
        "メール info@lumiere-hair.example",
        {"address": "info@lumiere-hair.example"},
    ),
    (ChannelKind.web, "ホームページ チャット", {}),
    (ChannelKind.api, "予約フォーム（API連携）", {}),
)


async def _demo_channels(ctx: Ctx) -> dict[str, Channel]:
    """A demo channel of every kind: the existing ones first, made when missing."""
    found: dict[str, Channel] = {}
    for channel in await channels.list_channels(ctx.db):
        if channel.settings.get("demo") and channel.kind not in found:
            found[channel.kind] = channel
    for kind, name, settings in _SALON_CHANNELS:
        if kind not in found:
            found[kind] = await channels.create_channel(
                ctx, kind=kind, name=name, settings={**settings, "demo": True}
            )
    return found


# --- the demo salon -------------------------------------------------------------------------


@dataclass(frozen=True)
class DemoResult:
    owner_email: str
    owner_password: str
    # Every member's e-mail and password, the owner's first.
    passwords: dict[str, str]
    contacts: int
    messages: int
    unread: int


@dataclass(frozen=True)
class _Script:
    """One demo conversation, its first message ``days_ago`` at ``start`` (Japan time).

    Each of ``lines`` is ``WHO MINUTES TEXT``: WHO is ``c`` (the customer), ``r:<member>`` (a
    reply) or ``n:<member>`` (an internal note); MINUTES after the previous line (staff answer in
    salon hours). An indented line continues the text (Japanese needs no space); ``\\n`` is a
    line break.
    """

    kind: str
    channel_name: str
    display_name: str | None
    days_ago: int
    start: str
    lines: str
    read: bool = True
    assignee: str | None = None

    def steps(self) -> list[tuple[str, int, str]]:
        steps: list[tuple[str, int, str]] = []
        for line in textwrap.dedent(self.lines).strip().splitlines():
            if line.startswith(" "):
                who, delay, body = steps[-1]
                steps[-1] = (who, delay, body + line.strip())
                continue
            who, minutes, body = line.split(" ", 2)
            steps.append((who, int(minutes), body))
        return [(who, delay, body.replace("\\n", "\n")) for who, delay, body in steps]


_SCRIPTS: tuple[_Script, ...] = (
    _Script(
        ChannelKind.line,
        "ようこ🌷",
        "【美咲】田中 陽子",
        days_ago=6,
        start="21:40",
        assignee="misaki",
        lines=r"""
        c 0 こんばんは！来週の土曜日って空いてますか？カットとカラーお願いしたいです
        r:misaki 30 田中様、いつもありがとうございます。美咲です。来週土曜日ですと、
            11:00〜か15:30〜がご案内可能です。いかがでしょうか？
        c 40 11時でお願いします！
        r:misaki 12 承知いたしました。土曜日11:00〜、カット＋カラーでご予約お取りしました。
            当日お待ちしております！
        c 3 ありがとうございます😊
        """,
    ),
    _Script(
        ChannelKind.line,
        "Mai.K",
        "【翔太】木村 麻衣",
        days_ago=2,
        start="08:15",
        assignee="shota",
        lines=r"""
        c 0 おはようございます。明日14時で予約してる木村です。急な仕事が入っちゃって…
            日にち変更できますか？
        r:shota 90 木村様、ご連絡ありがとうございます。翔太です。変更承ります！
            ご希望の日時はございますか？
        c 30 来週の水曜か木曜の夕方だと助かります
        r:shota 15 水曜日は17:00〜、木曜日は18:00〜が空いております。どちらがよろしいでしょうか？
        c 90 木曜の18時でお願いします🙏
        r:shota 5 かしこまりました。木曜日18:00〜に変更いたしました。
            お仕事お忙しい中ご連絡ありがとうございます。
        """,
    ),
    _Script(
        ChannelKind.instagram,
        "haru_0312",
        None,
        days_ago=0,
        start="12:30",
        read=False,
        lines=r"""
        c 0 はじめまして！インスタ見てDMしました。
            写真みたいなミルクティーベージュにしたいんですけど、ブリーチなしでもできますか？
        c 2 今は自分で染めた黒っぽい茶色です
        """,
    ),
    _Script(
        ChannelKind.line,
        "ゆか",
        "【店長】山本 由香",
        days_ago=4,
        start="20:50",
        assignee="owner",
        lines=r"""
        c 0 昨日カットしてもらったんですけど、左右の長さが少し違う気がします…
        c 1 写真送ったほうがいいですか？
        n:owner 60 昨日の担当は翔太くん。お直しで対応します。私から連絡しますね
        r:owner 8 山本様、店長の中村です。この度はご不便をおかけし申し訳ございません。
            1週間以内でしたら無料でお直しいたしますので、
            ご都合のよい日時をお知らせいただけますか？
        c 45 ありがとうございます。土曜の午前中は空いてますか？
        r:owner 10 土曜日10:30〜でお取りしました。私が担当させていただきます。
            ご来店お待ちしております。
        c 3 よろしくお願いします
        """,
    ),
    _Script(
        ChannelKind.web,
        "ゲスト 4821",
        None,
        days_ago=1,
        start="16:20",
        lines=r"""
        c 0 初めて伺うのですが、駅からの行き方を教えてください
        r:misaki 6 お問い合わせありがとうございます。駅の東口を出て、
            右手のコンビニの角を曲がって徒歩3分、1階に花屋さんがあるビルの2階です。
        c 2 駐車場はありますか？
        r:misaki 4 専用駐車場はございませんが、ビル裏のコインパーキングをご利用いただけます。
            ご来店時にお声がけいただければ1時間分のサービス券をお渡ししております。
        c 3 わかりました、ありがとうございます！
        """,
    ),
    _Script(
        ChannelKind.email,
        "佐藤 健太",
        None,
        days_ago=9,
        start="22:10",
        assignee="shota",
        lines=r"""
        c 0 ルミエール御中\n\nメンズのカットとパーマの料金を教えていただけますでしょうか。\n\n佐藤
        r:shota 20 佐藤様\n\nお問い合わせありがとうございます。ヘアサロン ルミエールの鈴木です。\n
            メンズカットは4,400円、カット＋パーマは9,900円（税込）です。\n
            ご予約はLINEまたはお電話でも承っております。\n\nヘアサロン ルミエール 鈴木
        c 200 ご回答ありがとうございます。
            では今週金曜の19時からカットとパーマで予約をお願いできますか。
        r:shota 25 佐藤様\n\n金曜日19:00〜、カット＋パーマで承りました。
            所要時間は1時間半ほどです。\nお待ちしております。\n\nヘアサロン ルミエール 鈴木
        """,
    ),
    _Script(
        ChannelKind.line,
        "さくら",
        "【美咲】小林 さくら",
        days_ago=3,
        start="19:45",
        assignee="misaki",
        lines=r"""
        c 0 今日はありがとうございました！すごく気に入ってます✨ 友達にも褒められました
        r:misaki 30 小林様、嬉しいお言葉ありがとうございます！美咲です。
            スタイリングでわからないことがあればいつでも聞いてくださいね。
        c 20 はーい！次は2ヶ月後くらいにまたお願いします
        """,
    ),
    _Script(
        ChannelKind.instagram,
        "aya.m_hair",
        None,
        days_ago=1,
        start="23:05",
        read=False,
        lines=r"""
        c 0 デジタルパーマとコスメパーマの違いってなんですか？
        r:shota 30 お問い合わせありがとうございます！デジタルパーマは熱を使うので、
            乾かすだけでカールが出やすく持ちが良いのが特徴です。コスメパーマはダメージが少なく、
            柔らかい質感に仕上がります。
        c 30 なるほど！髪が細くて傷みやすいんですけど、どっちがおすすめですか？
        c 1 料金も知りたいです
        """,
    ),
    _Script(
        ChannelKind.line,
        "かな",
        "【翔太】伊藤 加奈",
        days_ago=5,
        start="10:40",
        assignee="shota",
        lines=r"""
        c 0 すみません、明後日の予約キャンセルしたいです。子どもが熱を出してしまって
        r:shota 15 伊藤様、ご連絡ありがとうございます。キャンセル承りました。
            お子様お大事になさってください。また落ち着かれたらご連絡お待ちしております。
        """,
    ),
    _Script(
        ChannelKind.line,
        "まゆみ",
        "【店長】渡辺 真由美",
        days_ago=12,
        start="18:00",
        assignee="owner",
        lines=r"""
        c 0 ポイントカード今何ポイントたまってますか？
        r:owner 10 渡辺様、いつもありがとうございます。現在8ポイント（ご来店4回分）です。
            10ポイントでトリートメント1回無料になります！
        c 15 あと1回で使えるんですね！楽しみにしてます
        """,
    ),
    _Script(
        ChannelKind.api,
        "加藤 美穂",
        None,
        days_ago=0,
        start="09:12",
        read=False,
        lines=r"""
        c 0 【予約フォーム】ご希望日時：今週土曜 13:00／メニュー：カット＋トリートメント／
            ご要望：肩くらいまで切りたいです。初めてです。
        c 4 【予約フォーム】追記：車で伺います。駐車場について教えてください。
        """,
    ),
    _Script(
        ChannelKind.line,
        "Rina",
        "【美咲】中島 里奈",
        days_ago=0,
        start="11:05",
        read=False,
        assignee="misaki",
        lines=r"""
        c 0 美咲さんこんにちは！根元のリタッチだけってできますか？
        n:owner 20 @美咲 さん担当でお願いします
        """,
    ),
    _Script(
        ChannelKind.line,
        "たけし",
        None,
        days_ago=7,
        start="12:00",
        lines=r"""
        c 0 駐車場ありますか？車で行きたいです
        r:misaki 8 お問い合わせありがとうございます。専用駐車場はございませんが、
            近くのコインパーキングのサービス券をお渡ししています。
        c 5 了解です！
        """,
    ),
    _Script(
        ChannelKind.email,
        "高橋 直子",
        None,
        days_ago=15,
        start="14:00",
        lines=r"""
        c 0 5歳の娘のカットもお願いできますか？一緒に私もカットしたいです。
        r:owner 50 高橋様\n\nお問い合わせありがとうございます。お子様カット（小学生以下）
            は2,200円で承っております。お母様とご一緒のご予約も可能です。
            ご希望の日時をお知らせください。\n\nヘアサロン ルミエール 中村
        c 1300 来週日曜日の10時からでお願いします。
        r:owner 40 高橋様\n\n日曜日10:00〜、お二人分お取りしました。
            キッズチェアもご用意しておきます。\n\nヘアサロン ルミエール 中村
        """,
    ),
    _Script(
        ChannelKind.instagram,
        "miyu_0728",
        "【翔太】松本 美優",
        days_ago=10,
        start="21:00",
        assignee="shota",
        lines=r"""
        c 0 来月友達の結婚式があるんですけど、ヘアセットってやってますか？
        r:shota 40 やっております！ヘアセットは5,500円で、朝9時からご案内可能です（要予約）。
        c 25 来月の第2土曜の朝9時でお願いできますか？
        r:shota 10 承りました！当日はドレスの写真やイメージ写真があればお持ちください。
        c 2 楽しみにしてます！
        """,
    ),
    _Script(
        ChannelKind.line,
        "ちー",
        "【美咲】井上 千尋",
        days_ago=2,
        start="13:30",
        read=False,
        assignee="misaki",
        lines=r"""
        c 0 カラーでかぶれたことがあるんですけど、大丈夫ですか？
        r:misaki 20 ご相談ありがとうございます。頭皮に優しいノンジアミンカラーもございます。
            念のため、ご来店の48時間前にパッチテストをおすすめしています。
        c 10 パッチテストってお店に行けばいいですか？
        r:misaki 7 はい、5分ほどで終わりますので、
            お近くにお越しの際にお立ち寄りください（無料です）。
        c 30 明日の夕方行ってもいいですか？
        """,
    ),
    _Script(
        ChannelKind.line,
        "けんじ",
        None,
        days_ago=1,
        start="22:30",
        read=False,
        lines=r"""
        c 0 明日の予約って何時でしたっけ？
        c 2 夕方だった気がするんですけど、確認お願いします🙏
        """,
    ),
    _Script(
        ChannelKind.web,
        "ゲスト 7730",
        None,
        days_ago=3,
        start="15:10",
        lines=r"""
        c 0 縮毛矯正っていくらですか？ロングです
        r:shota 5 縮毛矯正はロングで18,700円（カット込み）です。
            髪の状態によって変わることがありますので、カウンセリングの上ご案内いたします。
        c 4 結構かかりますね…考えます
        """,
    ),
    _Script(
        ChannelKind.instagram,
        "yuuu_kaa",
        "【店長】森 優花",
        days_ago=8,
        start="20:10",
        assignee="owner",
        lines=r"""
        c 0 前回やってもらったカラーの色名って何でしたっけ？同じのにしたいです
        r:owner 30 森様、前回は「アッシュグレージュ 8レベル」でお染めしております。
            同じお色でご用意しますね。
        c 60 ありがとうございます、じゃあ来週の金曜19時で！
        r:owner 10 金曜日19:00〜承りました。お待ちしております。
        """,
    ),
    _Script(
        ChannelKind.line,
        "Natsuki",
        "【翔太】清水 夏希",
        days_ago=0,
        start="08:40",
        read=False,
        assignee="shota",
        lines=r"""
        c 0 おはようございます！今日の15時の予約、30分遅らせてもらうことって可能ですか？
        c 10 電車が遅れてて…すみません
        """,
    ),
    _Script(
        ChannelKind.email,
        "山口 隆",
        None,
        days_ago=20,
        start="12:20",
        lines=r"""
        c 0 ギフト券の販売はしていますか？母の誕生日に贈りたいと思っています。\n\n山口
        r:misaki 40 山口様\n\nお問い合わせありがとうございます。
            3,000円・5,000円・10,000円のギフト券を店頭にてご用意しております。
            有効期限は発行から1年です。\n\nヘアサロン ルミエール 佐藤
        c 180 ありがとうございます。週末に伺います。
        """,
    ),
    _Script(
        ChannelKind.line,
        "もも",
        "【美咲】斎藤 桃子",
        days_ago=13,
        start="11:50",
        assignee="misaki",
        lines=r"""
        c 0 最近髪がパサパサで…おすすめのトリートメントありますか？
        r:misaki 25 斎藤様、美咲です。酸熱トリートメント（6,600円）がおすすめです！
            ツヤとまとまりが1ヶ月ほど続きます。
        c 15 次のカットの時一緒にお願いします！
        r:misaki 5 かしこまりました、次回のご予約に追加しておきますね。
        n:misaki 2 次回 酸熱トリートメント追加済み。カラーは前回と同じ7レベルのピンクブラウン
        """,
    ),
    _Script(
        ChannelKind.line,
        "りょう",
        None,
        days_ago=0,
        start="13:10",
        read=False,
        lines=r"""
        c 0 予約したいです
        r:shota 10 ご連絡ありがとうございます！ご希望の日時とメニューを教えていただけますか？
        c 15 明後日の夕方、メンズカットで。初めてです
        """,
    ),
    _Script(
        ChannelKind.instagram,
        "sora.tabi",
        None,
        days_ago=6,
        start="09:30",
        lines=r"""
        c 0 定休日っていつですか？
        r:misaki 40 毎週火曜日が定休日です。営業時間は10:00〜20:00（最終受付はカット19:00、
            カラー・パーマ18:00）です。
        c 3 ありがとうございます！
        """,
    ),
    _Script(
        ChannelKind.api,
        "岡田 智子",
        None,
        days_ago=4,
        start="07:55",
        lines=r"""
        c 0 【予約フォーム】ご希望日時：金曜 10:00／メニュー：カラー（白髪染め）／
            ご要望：しみにくいカラー剤でお願いします
        r:owner 30 岡田様、ご予約ありがとうございます。金曜日10:00〜、白髪染めで承りました。
            頭皮にやさしいカラー剤をご用意いたします。
        """,
    ),
    _Script(
        ChannelKind.line,
        "ひろみ",
        "【店長】長谷川 裕美",
        days_ago=1,
        start="17:20",
        read=False,
        assignee="owner",
        lines=r"""
        c 0 前髪カットだけでも行っていいですか？
        r:owner 10 もちろんです！前髪カットは1,100円、15分ほどです。
            本日19時まででしたらすぐご案内できます。
        c 20 明日の昼休みに行きたいです。12時半とか空いてますか？
        """,
    ),
    _Script(
        ChannelKind.email,
        "Emily Brown",
        "【美咲】エミリー ブラウン",
        days_ago=11,
        start="16:05",
        assignee="misaki",
        lines=r"""
        c 0 Hello, do you have an English-speaking stylist? I'd like a haircut next week.
        r:misaki 35 Hello Emily, thank you for your message. I speak a little English 😊
        r:misaki 1 We have openings next Thursday at 14:00 or 16:00. Which would you prefer?
        c 60 14:00 please! Thank you so much.
        r:misaki 15 Booked for Thursday 14:00. See you then!
        """,
    ),
    _Script(
        ChannelKind.line,
        "じゅん",
        "【翔太】前田 純",
        days_ago=0,
        start="10:30",
        read=False,
        assignee="shota",
        lines=r"""
        c 0 先週パーマかけたんですけど、もう取れてきちゃいました…
        c 1 毎朝どうやって乾かせばいいですか？
        n:shota 25 先週のデジパ、薬剤弱めにしてた。かけ直しをご案内します
        """,
    ),
    _Script(
        ChannelKind.web,
        "ゲスト 2096",
        None,
        days_ago=2,
        start="18:40",
        lines=r"""
        c 0 クレジットカードやPayPayは使えますか？
        r:misaki 3 各種クレジットカード、PayPay、交通系ICカードがご利用いただけます。
        """,
    ),
    _Script(
        ChannelKind.instagram,
        "kotone__",
        "【美咲】藤田 琴音",
        days_ago=16,
        start="19:10",
        assignee="misaki",
        lines=r"""
        c 0 インナーカラー入れたいです！
        r:misaki 15 ありがとうございます！何色をご希望ですか？
        c 10 青か紫で迷ってます
        r:misaki 8 お洋服に合わせやすいのはネイビー系、
            華やかにしたいならラベンダーがおすすめです。
        c 12 ラベンダーにします！ブリーチ必要ですよね？
        r:misaki 6 はい、インナーカラーの部分だけブリーチいたします。
            カット＋インナーカラーで14,300円、所要時間は3時間ほどです。
        c 20 大丈夫です。日曜日空いてますか？
        r:misaki 5 日曜日は10:00〜ご案内可能です。
        c 4 じゃあ10時で！
        r:misaki 3 承りました。当日はお飲み物もご用意してお待ちしております。
        c 2 ありがとうございます😊楽しみ！
        """,
    ),
    _Script(
        ChannelKind.line,
        "たかこ",
        "【店長】石井 孝子",
        days_ago=0,
        start="07:30",
        read=False,
        assignee="owner",
        lines=r"""
        c 0 今日の11時の予約、娘も一緒にカットお願いできますか？中学生です
        n:owner 160 @翔太 11時の枠が空いているので、娘さんのカットをお願いできますか？
        """,
    ),
)


def _customer_id(kind: str, name: str, rng: random.Random) -> str:
    """An id shaped like the channel's own (LINE user id, Instagram-scoped id, address…)."""
    match kind:
        case ChannelKind.line:
            return "U" + rng.randbytes(16).hex()
        case ChannelKind.instagram:
            return str(rng.randrange(10**16, 10**17))
        case ChannelKind.email:
            local = "".join(ch for ch in name.lower() if ch.isascii() and ch.isalnum())
            return f"{local or 'customer'}.{rng.randrange(1000, 9999)}@example.jp"
        case ChannelKind.web:
            return f"visitor-{rng.randbytes(8).hex()}"
        case _:
            return f"form-{rng.randbytes(6).hex()}"


def _message_id(kind: str, rng: random.Random) -> str:
    match kind:
        case ChannelKind.line:
            return str(rng.randrange(10**17, 10**18))
        case ChannelKind.instagram:
            return "mid." + rng.randbytes(12).hex()
        case ChannelKind.email:
            return f"<{rng.randbytes(10).hex()}@mail.example.jp>"
        case _:
            return rng.randbytes(10).hex()


async def load_demo(ctx: Ctx) -> DemoResult:
    """A hair salon (ヘアサロン ルミエール): three members, five channels, thirty customers."""
    staff: dict[str, Member] = {}
    passwords: dict[str, str] = {}
    for key, email, name, role in _SALON_MEMBERS:
        password = new_password()
        staff[key] = await members.create_member(
            ctx, email=email, name=name, role=role, password=password
        )
        passwords[email] = password
    salon_channels = await _demo_channels(ctx)
    # Fresh ids each load (they only need to be unique); the texts and times are fixed.
    rng = random.Random(secrets.randbits(64))
    zone = _zone(ctx)
    today = ctx.now().astimezone(zone).date()
    histories = []
    for script in _SCRIPTS:
        lines = script.steps()
        hour, minute = (int(part) for part in script.start.split(":"))
        times = _timeline(
            first_day=today - timedelta(days=script.days_ago),
            start=time(hour, minute),
            steps=[(who != "c", delay) for who, delay, _ in lines],
            zone=zone,
            now=ctx.now(),
        )
        messages = []
        for (who, _, body), at in zip(lines, times, strict=True):
            if who == "c":
                messages.append(
                    HistoryMessage(
                        kind=MessageKind.inbound,
                        text=body,
                        at=at,
                        external_id=_message_id(script.kind, rng),
                    )
                )
                continue
            mark, _, member_key = who.partition(":")
            messages.append(
                HistoryMessage(
                    kind=MessageKind.reply if mark == "r" else MessageKind.note,
                    text=body,
                    at=at,
                    sender_member_id=staff[member_key].id,
                )
            )
        histories.append(
            ContactHistory(
                channel=salon_channels[script.kind],
                external_id=_customer_id(script.kind, script.channel_name, rng),
                channel_name=script.channel_name,
                display_name=script.display_name or script.channel_name,
                messages=messages,
                read=script.read,
                assignee_id=staff[script.assignee].id if script.assignee else None,
            )
        )
    written = await write_histories(ctx, histories=histories, members=list(staff.values()))
    await ctx.commit()
    owner_email = _SALON_MEMBERS[0][1]
    return DemoResult(
        owner_email=owner_email,
        owner_password=passwords[owner_email],
        passwords=passwords,
        contacts=written.contacts,
        messages=written.messages,
        unread=written.unread,
    )


# --- scale: N contacts from pools of names and phrases --------------------------------------

# (kanji, romaji), the most common first: picked with Zipf-like weights.
_SURNAMES = tuple(
    pair.split(":")
    for pair in [
        "佐藤:sato",
        "鈴木:suzuki",
        "高橋:takahashi",
        "田中:tanaka",
        "伊藤:ito",
        "渡辺:watanabe",
        "山本:yamamoto",
        "中村:nakamura",
        "小林:kobayashi",
        "加藤:kato",
        "吉田:yoshida",
        "山田:yamada",
        "佐々木:sasaki",
        "山口:yamaguchi",
        "松本:matsumoto",
        "井上:inoue",
        "木村:kimura",
        "林:hayashi",
        "斎藤:saito",
        "清水:shimizu",
        "山崎:yamazaki",
        "森:mori",
        "池田:ikeda",
        "橋本:hashimoto",
        "阿部:abe",
        "石川:ishikawa",
        "山下:yamashita",
        "中島:nakajima",
        "石井:ishii",
        "小川:ogawa",
        "前田:maeda",
        "岡田:okada",
        "長谷川:hasegawa",
        "藤田:fujita",
        "後藤:goto",
        "近藤:kondo",
        "村上:murakami",
        "遠藤:endo",
        "青木:aoki",
        "坂本:sakamoto",
        "斉藤:saito",
        "福田:fukuda",
        "太田:ota",
        "西村:nishimura",
        "藤井:fujii",
        "金子:kaneko",
        "岡本:okamoto",
        "藤原:fujiwara",
        "中野:nakano",
        "三浦:miura",
        "原田:harada",
        "中川:nakagawa",
        "松田:matsuda",
        "竹内:takeuchi",
        "小野:ono",
        "田村:tamura",
        "中山:nakayama",
        "和田:wada",
        "石田:ishida",
        "森田:morita",
        "上田:ueda",
        "原:hara",
        "内田:uchida",
        "柴田:shibata",
        "酒井:sakai",
        "宮崎:miyazaki",
        "横山:yokoyama",
        "高木:takagi",
        "安藤:ando",
        "宮本:miyamoto",
        "大野:ono",
        "小島:kojima",
        "谷口:taniguchi",
        "今井:imai",
        "工藤:kudo",
        "高田:takada",
        "増田:masuda",
        "丸山:maruyama",
        "杉山:sugiyama",
        "村田:murata",
        "大塚:otsuka",
        "新井:arai",
        "小山:koyama",
        "平野:hirano",
        "藤本:fujimoto",
        "河野:kono",
        "上野:ueno",
        "野口:noguchi",
        "武田:takeda",
        "松井:matsui",
        "千葉:chiba",
        "岩崎:iwasaki",
        "菅原:sugawara",
        "木下:kinoshita",
        "久保:kubo",
        "佐野:sano",
        "野村:nomura",
        "松尾:matsuo",
        "市川:ichikawa",
        "菊地:kikuchi",
        "杉本:sugimoto",
        "古川:furukawa",
        "大西:onishi",
        "島田:shimada",
        "水野:mizuno",
        "桜井:sakurai",
        "高野:takano",
        "吉川:yoshikawa",
        "山内:yamauchi",
        "西田:nishida",
        "飯田:iida",
        "菅野:sugano",
        "服部:hattori",
        "早川:hayakawa",
        "東海林:shoji",
        "勅使河原:teshigawara",
        "四十物:aimono",
    ]
)
# (kanji, kana, romaji)
_GIVEN_NAMES = tuple(
    triple.split(":")
    for triple in [
        "陽子:ようこ:yoko",
        "麻衣:まい:mai",
        "陽菜:ひな:hina",
        "結衣:ゆい:yui",
        "さくら:さくら:sakura",
        "彩:あや:aya",
        "愛:あい:ai",
        "優花:ゆうか:yuka",
        "真由美:まゆみ:mayumi",
        "由香:ゆか:yuka",
        "奈々:なな:nana",
        "千尋:ちひろ:chihiro",
        "里奈:りな:rina",
        "夏希:なつき:natsuki",
        "桃子:ももこ:momoko",
        "琴音:ことね:kotone",
        "美穂:みほ:miho",
        "智子:ともこ:tomoko",
        "裕美:ひろみ:hiromi",
        "恵美:えみ:emi",
        "明日香:あすか:asuka",
        "遥:はるか:haruka",
        "葵:あおい:aoi",
        "花:はな:hana",
        "沙織:さおり:saori",
        "香織:かおり:kaori",
        "直子:なおこ:naoko",
        "久美子:くみこ:kumiko",
        "由美子:ゆみこ:yumiko",
        "恵子:けいこ:keiko",
        "典子:のりこ:noriko",
        "美紀:みき:miki",
        "綾香:あやか:ayaka",
        "杏:あん:an",
        "凛:りん:rin",
        "芽衣:めい:mei",
        "莉子:りこ:riko",
        "美月:みづき:mizuki",
        "七海:ななみ:nanami",
        "詩織:しおり:shiori",
        "真央:まお:mao",
        "未来:みく:miku",
        "亜美:あみ:ami",
        "瞳:ひとみ:hitomi",
        "紗希:さき:saki",
        "千夏:ちなつ:chinatsu",
        "朋美:ともみ:tomomi",
        "佳奈:かな:kana",
        "梨花:りか:rika",
        "絵里:えり:eri",
        "麻美:あさみ:asami",
        "理恵:りえ:rie",
        "幸子:さちこ:sachiko",
        "春香:はるか:haruka",
        "美優:みゆ:miyu",
        "日菜子:ひなこ:hinako",
        "心春:こはる:koharu",
        "紗綾:さや:saya",
        "健太:けんた:kenta",
        "翔:しょう:sho",
        "大輔:だいすけ:daisuke",
        "拓也:たくや:takuya",
        "隆:たかし:takashi",
        "純:じゅん:jun",
        "亮:りょう:ryo",
        "悠斗:ゆうと:yuto",
        "蓮:れん:ren",
        "大翔:ひろと:hiroto",
        "直樹:なおき:naoki",
        "和也:かずや:kazuya",
        "浩二:こうじ:koji",
        "誠:まこと:makoto",
        "陸:りく:riku",
        "颯太:そうた:sota",
    ]
)
_SURNAME_WEIGHTS = tuple(1 / (rank + 1) ** 0.9 for rank in range(len(_SURNAMES)))
_EMOJI = ("🌸", "🌷", "✨", "💐", "🍀", "☕", "🐈", "🌙", "♪", "⭐")

# menu, price (yen, tax included)
_MENUS = (
    ("カット", "4,950"),
    ("カット＋カラー", "11,000"),
    ("カラー", "7,150"),
    ("パーマ", "8,800"),
    ("縮毛矯正", "16,500"),
    ("トリートメント", "3,300"),
    ("前髪カット", "1,100"),
    ("ヘッドスパ", "4,400"),
    ("白髪染め", "6,600"),
    ("インナーカラー", "9,900"),
    ("メンズカット", "4,400"),
    ("ヘアセット", "5,500"),
)
_DAYS = (
    "明日",
    "明後日",
    "今週の土曜日",
    "今週の日曜日",
    "来週の月曜日",
    "来週の水曜日",
    "来週の木曜日",
    "来週の金曜日",
)
_HOURS = ("10時", "10時半", "11時", "13時", "14時", "15時半", "16時", "17時", "18時", "19時")
_COLOURS = (
    "ミルクティーベージュ",
    "アッシュグレージュ",
    "ピンクブラウン",
    "オリーブベージュ",
    "ラベンダーグレー",
    "ダークブラウン",
    "ハイトーンのブロンド",
)

# A flow is steps of (who, variants); who is "c" (customer), "r" (reply) or "n" (internal note).
_Flow = tuple[tuple[str, tuple[str, ...]], ...]
_FLOWS: tuple[_Flow, ...] = (
    (  # booking
        (
            "c",
            (
                "{day}の{hour}って空いてますか？{menu}お願いしたいです",
                "{menu}の予約をお願いしたいです。{day}の{hour}頃はどうですか？",
                "こんにちは！{day}{hour}から{menu}で予約できますか？",
                "{day}、{menu}で予約したいです🙏",
            ),
        ),
        (
            "r",
            (
                "{sama}、お問い合わせありがとうございます。{day}の{hour}から{menu}でご案内可能です。"
                "ご予約お取りしてよろしいでしょうか？",
                "{sama}、いつもありがとうございます。{day}は{hour}からでしたらお取りできます。"
                "いかがでしょうか？",
            ),
        ),
        ("c", ("お願いします！", "はい、お願いします🙏", "それでお願いします", "じゃあそれで！")),
        (
            "r",
            (
                "承知いたしました。{day}{hour}〜、{menu}でご予約お取りしました。"
                "ご来店お待ちしております。",
                "かしこまりました。{day}{hour}〜でお待ちしております！",
            ),
        ),
    ),
    (  # rescheduling
        (
            "c",
            (
                "すみません、{day}の予約なんですが、急用で行けなくなってしまって…日にち変えられますか？",
                "予約の日にちを変更したいです。{day}の{hour}って空いてますか？",
                "仕事が入ってしまって、予約の時間を遅らせることってできますか？",
            ),
        ),
        (
            "r",
            (
                "{sama}、ご連絡ありがとうございます。変更承ります。ご希望の日時はございますか？",
                "{sama}、ご連絡ありがとうございます。{day}は{hour}からご案内できます。"
                "こちらでよろしいでしょうか？",
            ),
        ),
        ("c", ("{day}の{hour}でお願いします", "それでお願いします！すみません🙇", "助かります！")),
        ("r", ("{day}{hour}〜に変更いたしました。お気をつけてお越しください。",)),
    ),
    (  # price
        (
            "c",
            (
                "{menu}っていくらですか？",
                "{menu}の料金を教えてください",
                "ロングなんですけど、{menu}はいくらくらいになりますか？",
            ),
        ),
        (
            "r",
            (
                "お問い合わせありがとうございます。{menu}は{price}円（税込）です。"
                "髪の長さや状態によって変わる場合がございますので、カウンセリングでご案内いたします。",
                "{menu}は{price}円（税込）です。初回の方は10%オフになります！",
            ),
        ),
        ("c", ("ありがとうございます、検討します", "わかりました！予約するときまた連絡します")),
    ),
    (  # colour
        (
            "c",
            (
                "{colour}にしたいんですけど、ブリーチなしでもできますか？",
                "{colour}って色落ちしやすいですか？",
                "白髪が気になってきたんですけど、{colour}みたいな明るめの色でも染まりますか？",
            ),
        ),
        (
            "r",
            (
                "{sama}、ご相談ありがとうございます。今の髪色によりますが、"
                "{colour}でしたらブリーチなしでも近い色味をお出しできます。"
                "よろしければ写真を送っていただけますか？",
                "色落ちを抑えるカラーシャンプーもございますので、ご来店時にご案内しますね。",
            ),
        ),
        ("c", ("写真送りますね！", "よかったです！お願いします", "なるほど、ありがとうございます")),
    ),
    (  # perm
        (
            "c",
            (
                "デジタルパーマとコスメパーマの違いってなんですか？",
                "髪が細くてパーマがすぐ取れちゃうんですけど、かかりますか？",
                "ゆるめのパーマをかけたいです。朝のスタイリングが楽になりますか？",
            ),
        ),
        (
            "r",
            (
                "デジタルパーマは熱でしっかりカールをつけるので持ちが良く、"
                "コスメパーマはダメージが少なく柔らかい仕上がりです。",
                "髪質に合わせて薬剤を選びますので大丈夫です。乾かすだけでまとまるようにお作りします。",
            ),
        ),
        ("c", ("じゃあ{menu}と一緒にお願いしたいです", "ありがとうございます！考えてみます")),
    ),
    (  # directions and parking
        (
            "c",
            (
                "駅からの行き方を教えてください",
                "駐車場ってありますか？",
                "初めて行くんですけど、お店の場所がわかりにくいって聞いて…",
                "自転車で行っても大丈夫ですか？",
            ),
        ),
        (
            "r",
            (
                "駅の東口を出て、右手のコンビニの角を曲がって徒歩3分、花屋さんの入ったビルの2階です。",
                "専用駐車場はございませんが、ビル裏のコインパーキングのサービス券をお渡ししています。",
                "ビルの前に駐輪スペースがございますので、そちらをご利用ください。",
            ),
        ),
        ("c", ("わかりました！", "ありがとうございます、助かります")),
    ),
    (  # thanks after a visit
        (
            "c",
            (
                "今日はありがとうございました！{staff}さんにお願いしてよかったです✨",
                "昨日はありがとうございました。すごく扱いやすいです！",
                "カラーめちゃくちゃ気に入ってます！ありがとうございました😊",
            ),
        ),
        (
            "r",
            (
                "{sama}、嬉しいお言葉ありがとうございます！またのご来店をお待ちしております。",
                "{sama}、ありがとうございます！スタイリングで困ったらいつでもご連絡くださいね。",
            ),
        ),
        ("c", ("また来月お願いします！", "次もよろしくお願いします🙏")),
    ),
    (  # a complaint
        (
            "c",
            (
                "昨日{menu}してもらったんですが、思ってた色と違って…",
                "カットしてもらったところ、左右の長さが違う気がします",
                "パーマがもう取れてきちゃいました…",
            ),
        ),
        ("n", ("@{staff} さん担当でお願いします", "お直しで対応します。店長から連絡します")),
        (
            "r",
            (
                "{sama}、この度はご不便をおかけし申し訳ございません。"
                "1週間以内でしたら無料でお直しいたします。ご都合のよい日時をお知らせください。",
            ),
        ),
        ("c", ("{day}の{hour}でお願いできますか", "ありがとうございます。よろしくお願いします")),
    ),
    (  # cancellation
        (
            "c",
            (
                "{day}の予約キャンセルしたいです。すみません",
                "体調を崩してしまって、{day}の予約をキャンセルさせてください",
            ),
        ),
        (
            "r",
            (
                "{sama}、ご連絡ありがとうございます。キャンセル承りました。お大事になさってください。",
                "キャンセル承りました。またのご連絡をお待ちしております。",
            ),
        ),
    ),
    (  # last treatment and points
        (
            "c",
            (
                "前回のカラーって何でしたっけ？同じのにしたいです",
                "ポイントってどれくらい貯まってますか？",
            ),
        ),
        (
            "r",
            (
                "{sama}、前回は「{colour}」でお染めしております。同じお色でご用意しますね。",
                "{sama}、現在{points}ポイントです。10ポイントでトリートメント1回無料になります！",
            ),
        ),
        ("c", ("ありがとうございます！", "楽しみにしてます")),
    ),
)
_FOLLOW_UPS = (
    "あと、駐車場ってありますか？",
    "すみません、もう一つ質問です。{menu}も一緒にできますか？",
    "{day}の{hour}でもいいですか？",
    "お返事お待ちしてます",
    "やっぱり{day}の予約でお願いしたいです",
    "{menu}の時間ってどれくらいかかりますか？",
    "写真送ります！こんな感じにしたいです",
)
_CHANNEL_KINDS = (
    ChannelKind.line,
    ChannelKind.instagram,
    ChannelKind.email,
    ChannelKind.web,
    ChannelKind.api,
)
_CHANNEL_KIND_WEIGHTS = (50, 25, 10, 10, 5)


UNREAD_SHARE = 0.3
SCALE_DAYS = 365
SCALE_BATCH = 2000
# Content is the same every run (comparable benchmarks); external ids are new every run.
SCALE_SEED = 20261124
# When customers write (hour of day, Japan time), with repeats as weights.
_CUSTOMER_HOURS = (7, 8, 9, 10, 11, 12, 12, 13, 15, 17, 18, 19, 20, 21, 21, 22, 22, 23)


@dataclass(frozen=True)
class ScaleResult:
    contacts: int
    messages: int
    unread: int
    # Members made because there were none: e-mail → password.
    new_members: dict[str, str] = field(default_factory=dict)


@dataclass
class _ScaleMaker:
    """Makes one contact's history at a time, from the pools above."""

    channels: dict[str, Channel]
    staff: list[Staff]
    zone: tzinfo
    now: datetime
    rng: random.Random
    # Makes this run's external ids differ from every earlier run's.
    salt: str
    serial: int = 0

    def _channel_name(self, kind: str, surname: tuple[str, str], given: tuple[str, ...]) -> str:
        rng = self.rng
        kanji, kana, romaji = given
        roll = rng.random()
        match kind:
            case ChannelKind.line:
                if roll < 0.3:
                    return kana
                if roll < 0.5:
                    return kana + rng.choice(_EMOJI)
                if roll < 0.7:
                    return romaji.capitalize()
                if roll < 0.85:
                    return f"{surname[0]} {kanji}"
                return f"{romaji}.{surname[1][0]}"
            case ChannelKind.instagram:
                if roll < 0.4:
                    return f"{romaji}_{rng.randrange(100, 10000)}"
                if roll < 0.7:
                    return f"{romaji}.{surname[1]}"
                suffix = rng.choice(("__", "_hair", ".m", "_0"))
                return f"{romaji}{suffix}{rng.randrange(1, 100)}"
            case ChannelKind.web if roll < 0.5:
                return f"ゲスト {rng.randrange(1000, 10000)}"
            case _:
                return f"{surname[0]} {kanji}"

    def _external_id(self, kind: str) -> str:
        self.serial += 1
        digest = hashlib.blake2b(f"{self.salt}:{self.serial}".encode(), digest_size=16).hexdigest()
        match kind:
            case ChannelKind.line:
                return "U" + digest
            case ChannelKind.instagram:
                return str(int(digest[:14], 16))
            case ChannelKind.email:
                return f"customer.{digest[:12]}@example.jp"
            case ChannelKind.web:
                return f"visitor-{digest[:16]}"
            case _:
                return digest

    def _steps(self, unread: bool) -> list[tuple[str, str]]:
        """(who, pattern) for 3 to 12 messages; an unread one ends with the customer's."""
        rng = self.rng
        steps: list[tuple[str, str]] = []
        for flow in rng.sample(_FLOWS, rng.choice((1, 1, 2, 2, 3))):
            for who, variants in flow:
                if who == "n" and rng.random() < 0.5:
                    continue
                steps.append((who, rng.choice(variants)))
        steps = steps[:12]
        if unread:
            # Cut after the last reply, then the customer writes again.
            while steps[-1][0] != "r" and len(steps) > 2:
                steps.pop()
            steps = [*steps[:11], ("c", rng.choice(_FOLLOW_UPS))]
        elif len(steps) < 3:
            steps.append(("c", "ありがとうございます！"))
        return steps

    def _delay(self, who: str, previous: str) -> int:
        """Minutes between two messages."""
        if who == "c":
            return self.rng.randrange(0, 5) if previous == "c" else self.rng.randrange(2, 240)
        return self.rng.randrange(1, 30) if who == "n" else self.rng.randrange(3, 180)

    def history(self) -> ContactHistory:
        rng = self.rng
        kind = rng.choices(_CHANNEL_KINDS, _CHANNEL_KIND_WEIGHTS)[0]
        surname = rng.choices(_SURNAMES, _SURNAME_WEIGHTS)[0]
        given = rng.choice(_GIVEN_NAMES)
        channel_name = self._channel_name(kind, (surname[0], surname[1]), tuple(given))
        person = rng.choice(self.staff)
        # Notes come from a colleague (the owner, first) telling the person in charge.
        colleague = next((s for s in self.staff if s is not person), person)
        unread = rng.random() < UNREAD_SHARE
        steps = self._steps(unread)
        whos = [who for who, _ in steps]
        # The salon's 【担当者】顧客氏名 display name, for customers someone is in charge of.
        in_charge = "n" in whos or rng.random() < 0.45
        display_name = (
            f"【{person.short_name}】{surname[0]} {given[0]}" if in_charge else channel_name
        )
        menu, price = rng.choice(_MENUS)
        words = {
            "sama": f"{surname[0]}様",
            "staff": person.short_name,
            "day": rng.choice(_DAYS),
            "hour": rng.choice(_HOURS),
            "menu": menu,
            "price": price,
            "colour": rng.choice(_COLOURS),
            "points": str(rng.randrange(1, 10)),
        }
        first_day = (self.now - timedelta(days=rng.random() * SCALE_DAYS)).astimezone(self.zone)
        times = _timeline(
            first_day=first_day.date(),
            start=time(rng.choice(_CUSTOMER_HOURS), rng.randrange(60)),
            steps=[
                (who != "c", self._delay(who, whos[index - 1]) if index else 0)
                for index, who in enumerate(whos)
            ],
            zone=self.zone,
            now=self.now,
        )
        messages = []
        for (who, pattern), at in zip(steps, times, strict=True):
            body = pattern.format_map(words)
            if who == "c":
                messages.append(
                    HistoryMessage(
                        kind=MessageKind.inbound,
                        text=body,
                        at=at,
                        external_id=self._external_id("message"),
                    )
                )
                continue
            messages.append(
                HistoryMessage(
                    kind=MessageKind.reply if who == "r" else MessageKind.note,
                    text=body,
                    at=at,
                    sender_member_id=(person if who == "r" else colleague).member.id,
                )
            )
        return ContactHistory(
            channel=self.channels[kind],
            external_id=self._external_id(kind),
            channel_name=channel_name,
            display_name=display_name,
            messages=messages,
            read=not unread,
            assignee_id=person.member.id if in_charge else None,
        )


def _short_name(member: Member) -> str:
    """店長 for the owner, else the given name (the last word of the name)."""
    return "店長" if member.role == Role.owner else member.name.split()[-1]


async def load_scale(ctx: Ctx, *, contacts: int) -> ScaleResult:
    """``contacts`` contacts with 3–12 message conversations over the last year, about 30%
    unread, written in batches (each committed). Adds to what the database already holds."""
    if contacts < 1:
        raise Invalid("Make at least one contact.")
    active = list(
        await ctx.db.scalars(select(Member).where(Member.active.is_(True)).order_by(Member.id))
    )
    new_members: dict[str, str] = {}
    if not active:
        for key, _email, name, role in _SALON_MEMBERS:
            email, password = f"{key}.scale@example.com", new_password()
            active.append(
                await members.create_member(
                    ctx, email=email, name=name, role=role, password=password
                )
            )
            new_members[email] = password
    maker = _ScaleMaker(
        channels=await _demo_channels(ctx),
        staff=[Staff(member=member, short_name=_short_name(member)) for member in active],
        zone=_zone(ctx),
        now=ctx.now(),
        rng=random.Random(SCALE_SEED),
        salt=secrets.token_hex(8),
    )
    made = Written(contacts=0, messages=0, unread=0)
    for start in range(0, contacts, SCALE_BATCH):
        batch = [maker.history() for _ in range(min(SCALE_BATCH, contacts - start))]
        written = await write_histories(ctx, histories=batch, members=active)
        await ctx.commit()
        made = Written(
            contacts=made.contacts + written.contacts,
            messages=made.messages + written.messages,
            unread=made.unread + written.unread,
        )
    if ctx.dialect == "postgresql":
        # Plans need statistics; autovacuum would gather them, but only some time later.
        tables = [Contact, Conversation, Message, ConversationUnread, Notification]
        names = [_table(model).name for model in tables]
        names += [search.CONTACTS.name, search.MESSAGES.name]
        await ctx.db.execute(text(f"ANALYZE {', '.join(names)}"))
        await ctx.commit()
    return ScaleResult(
        contacts=made.contacts,
        messages=made.messages,
        unread=made.unread,
        new_members=new_members,
    )
