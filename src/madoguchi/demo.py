"""Demo data: a hair salon's inbox (``madoguchi demo``) and N contacts made fast (``--scale N``).

Members and channels come from their services. Conversation histories have timestamps in the past,
which no service writes, so one writer (``write_histories``) stores them in bulk while keeping every
invariant the services keep: ``search_text`` and the search index for messages and contacts, the
conversation's ``last_*`` fields, and a ``conversation_unreads`` row per member for what is unread.

What the salon keeps about its customers (statuses, marks, tags, profile fields, memos, records)
and does with their conversations (follow, close, snooze, schedule), and its settings (tags and
fields in folders, record books, templates, actions), go through the services, each run with a
clock turned back to when it happened. ``--scale`` writes its statuses and tags in bulk, with the
activity copies the filtered lists walk.
"""

from __future__ import annotations

import contextlib
import hashlib
import random
import secrets
import textwrap
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any, cast
from zoneinfo import ZoneInfo

from sqlalchemy import Table, insert, select, text

from madoguchi import search
from madoguchi.automation import macros, templates
from madoguchi.channels import service as channels
from madoguchi.channels.models import Channel, ChannelKind
from madoguchi.contacts import service as contacts
from madoguchi.contacts.models import Contact
from madoguchi.conversations import recording, scheduled, workflow
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
from madoguchi.crm import fields, marks, memos, records, statuses, tags
from madoguchi.crm.defaults import DEFAULT_STATUSES
from madoguchi.crm.models import ContactTag, Tag, TagFolder
from madoguchi.kit.context import Ctx
from madoguchi.kit.errors import Invalid
from madoguchi.kit.security import new_password
from madoguchi.kit.text import gram_sequence, search_key
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
    # The contact's support status and tags (each tagging keeps a copy of the latest activity).
    status_id: int | None = None
    tag_ids: tuple[int, ...] = ()


@dataclass(frozen=True)
class Written:
    contacts: int
    messages: int
    unread: int
    # The new contacts and their conversations, in the order of the histories.
    contact_ids: tuple[int, ...] = ()
    conversation_ids: tuple[int, ...] = ()


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


def _unread(messages: Sequence[HistoryMessage]) -> list[HistoryMessage]:
    """Customer messages since the last reply: what raised the unread mark."""
    found: list[HistoryMessage] = []
    for message in reversed(messages):
        if message.kind == MessageKind.reply:
            break
        if message.kind == MessageKind.inbound:
            found.append(message)
    return found


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
    as the services would have: the contacts with their name index, status and tags, each
    conversation with its assignee (an assignment's system line and notification), followers
    and notifications for @mentions in notes, and the messages through the one writer of
    messages (conversations.recording.record_many), which keeps everything that follows from
    them. ``members`` are the active members."""
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
    contact_rows: list[dict[str, Any]] = []
    conversation_rows: list[dict[str, Any]] = []
    messages: list[recording.NewMessage] = []
    follower_rows: list[dict[str, Any]] = []
    notification_rows: list[dict[str, Any]] = []
    tag_rows: list[dict[str, Any]] = []
    contact_grams: list[tuple[int, list[str]]] = []
    unread_conversations = 0
    for history, thread, contact_id, conversation_id in zip(
        histories, threads, contact_ids, conversation_ids, strict=True
    ):
        channel = history.channel
        shown = [m for m in thread.messages if m.kind != MessageKind.system]
        first = thread.messages[0]
        # The customer's messages since the last reply, when members have not read them.
        unread_inbound = set() if history.read else {id(m) for m in _unread(shown)}
        unread = len(unread_inbound)
        unread_conversations += bool(unread)
        # Notifications about a conversation still waiting for an answer are not read yet.
        read_at = None if unread else shown[-1].at
        names = f"{history.channel_name} {history.display_name}"
        contact_rows.append(
            {
                "id": contact_id,
                "channel_id": channel.id,
                "external_id": history.external_id,
                "channel_name": history.channel_name,
                "display_name": history.display_name,
                "search_text": search_key(names),
                "status_id": history.status_id,
                "created_at": first.at,
                "updated_at": first.at,
            }
        )
        tag_rows += [
            {"contact_id": contact_id, "tag_id": tag_id, "created_at": first.at}
            for tag_id in dict.fromkeys(history.tag_ids)
        ]
        contact_grams.append((contact_id, gram_sequence(names)))
        reply_delivery = channels.initial_delivery(channel)
        followers: set[int] = set()
        for index, message in enumerate(thread.messages):
            message_id = next(message_ids)
            messages.append(
                recording.NewMessage(
                    id=message_id,
                    conversation_id=conversation_id,
                    contact_id=contact_id,
                    channel_id=channel.id,
                    kind=message.kind,
                    text=message.text,
                    created_at=message.at,
                    external_id=message.external_id,
                    sender_member_id=message.sender_member_id,
                    delivery=reply_delivery if message.kind == MessageKind.reply else None,
                    meta=message.meta,
                    moves=message.kind != MessageKind.system,
                    unread=id(message) in unread_inbound,
                )
            )
            if message.kind == MessageKind.system:
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
        conversation_rows.append(
            {
                "id": conversation_id,
                "contact_id": contact_id,
                "channel_id": channel.id,
                "state": ConversationState.open,
                "assignee_id": history.assignee_id,
                # Until its messages are recorded, which moves it.
                "last_activity_at": first.at,
                "created_at": first.at,
            }
        )
        follower_rows += [
            {"conversation_id": conversation_id, "member_id": member_id, "created_at": first.at}
            for member_id in sorted(followers)
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
        (ContactTag, tag_rows),
    ):
        if rows:
            await ctx.db.execute(insert(_table(model)), rows)
    await search.add_grams(ctx.db, search.CONTACTS, contact_grams)
    await recording.record_many(ctx, messages)
    for table, rows in (
        (_table(ConversationFollower), follower_rows),
        (_table(Notification), notification_rows),
    ):
        if rows:
            await ctx.db.execute(insert(table), rows)
    return Written(
        contacts=len(contact_rows),
        messages=len(messages),
        unread=unread_conversations,
        contact_ids=tuple(contact_ids),
        conversation_ids=tuple(conversation_ids),
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

    @property
    def name(self) -> str:
        """How the inbox names them: the display name, else the channel's name."""
        return self.display_name or self.channel_name

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


# --- the salon's CRM: what it keeps about each customer ---------------------------------------

# Member keys as the salon writes them in tags, fields and records (担当: 店長 / 美咲 / 翔太).
_STAFF_LABELS = {"owner": "店長", "misaki": "美咲", "shota": "翔太"}

# Tag folders and their tags (顧客ランク, 髪質診断 results, the stylist in charge, how they came).
_TAG_FOLDERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("顧客ランク", ("VIP", "常連", "新規")),
    ("髪質診断", ("くせ毛", "細毛", "乾燥")),
    ("担当", ("店長", "美咲", "翔太")),
    ("来店きっかけ", ("Instagram", "紹介", "ホットペッパー", "ホームページ")),
)

# Profile fields: folder, key, label, type, choices, shown in the chat (表示設定).
_FIELDS: tuple[tuple[str, str, str, str, tuple[str, ...], bool], ...] = (
    ("基本情報", "birthday", "生年月日", "date", (), True),
    ("基本情報", "tel", "電話番号", "phone", (), True),
    ("基本情報", "gender", "性別", "select", ("女性", "男性", "その他", "回答しない"), False),
    ("来店情報", "points", "来店ポイント", "number", (), True),
    ("来店情報", "last_visit", "最終来店日", "date", (), True),
    ("来店情報", "stylist", "担当スタイリスト", "select", tuple(_STAFF_LABELS.values()), True),
    ("来店情報", "parking", "駐車場利用", "select", ("なし", "あり", "自転車"), False),
    ("施術メモ", "style", "好みのスタイル", "long_text", (), True),
)
# 来店ポイント: two a visit (10 make a free treatment).
POINTS_PER_VISIT = 2

# 施術履歴's menus and their prices (yen, tax included).
_RECORD_MENUS = {
    "カット": 4950,
    "カット＋カラー": 11000,
    "カラー": 7150,
    "白髪染め": 6600,
    "パーマ": 8800,
    "デジタルパーマ": 13200,
    "縮毛矯正": 16500,
    "トリートメント": 3300,
    "酸熱トリートメント": 6600,
    "前髪カット": 1100,
    "インナーカラー": 9900,
    "メンズカット": 4400,
    "メンズカット＋パーマ": 9900,
    "キッズカット": 2200,
    "ヘアセット": 5500,
}
TREATMENTS = "施術履歴"
SUPPORT_LOG = "対応記録"
_RECORD_BOOKS: tuple[tuple[str, list[dict[str, Any]]], ...] = (
    (
        TREATMENTS,
        [
            {"key": "menu", "label": "メニュー", "type": "select", "options": list(_RECORD_MENUS)},
            {
                "key": "staff",
                "label": "担当",
                "type": "select",
                "options": list(_STAFF_LABELS.values()),
            },
            {"key": "price", "label": "金額", "type": "number"},
            {"key": "note", "label": "内容", "type": "long_text"},
        ],
    ),
    (SUPPORT_LOG, [{"key": "note", "label": "内容", "type": "long_text"}]),
)

# 問い合わせタグ: name, colour.
_CONVERSATION_TAGS = (("予約", "#2563eb"), ("料金", "#16a34a"), ("クレーム", "#dc2626"))

# Templates: folder, name, text.
_TEMPLATES = (
    (
        "予約",
        "予約確認",
        "{name}様\nご予約ありがとうございます。ご予約を承りました。\n"
        "当日はお気をつけてお越しください。変更・キャンセルはこちらのチャットでお気軽にどうぞ。\n"
        "ヘアサロン ルミエール",
    ),
    (
        "お礼・フォロー",
        "来店お礼",
        "{name}様\n先日はご来店ありがとうございました。"
        "ご来店から{days_since_last_visit}日が経ちましたが、その後スタイリングはいかがでしょうか？\n"
        "気になることがあれば、いつでもこちらのチャットでご相談ください。\n{staff}",
    ),
    (
        "ご案内",
        "駐車場案内",
        "専用駐車場はございませんが、ビル裏のコインパーキングをご利用いただけます。"
        "ご来店時にお声がけいただければ、1時間分のサービス券をお渡しいたします。",
    ),
    (
        "ご案内",
        "営業時間",
        "営業時間は10:00〜20:00（最終受付：カット19:00、カラー・パーマ18:00）、"
        "毎週火曜日が定休日です。",
    ),
)
BOOKED_TEMPLATE = "予約確認"
VIP_ACTION = "VIP対応"
BOOKED_ACTION = "予約完了"


@dataclass(frozen=True)
class _Visit:
    """A 施術履歴 record ``days_ago`` (at a time of day the salon is open)."""

    days_ago: int
    menu: str
    staff: str
    note: str = ""
    # None: the menu's price.
    price: int | None = None


@dataclass(frozen=True)
class _Log:
    """A 対応記録 record, written at the end of that day."""

    days_ago: int
    staff: str
    note: str


@dataclass(frozen=True)
class _Customer:
    """What the salon keeps about one demo customer, and what it did with their conversation."""

    status: str | None = None
    mark: str | None = None
    tags: tuple[str, ...] = ()
    # Profile values by field key; 来店ポイント, 最終来店日 and 担当スタイリスト follow from the
    # visits unless given.
    fields: dict[str, str] = field(default_factory=dict)
    # (title, body), in the order they are listed.
    memos: tuple[tuple[str, str], ...] = ()
    visits: tuple[_Visit, ...] = ()
    logs: tuple[_Log, ...] = ()
    # (mark, the start of the customer's message it goes on).
    message_mark: tuple[str, str] | None = None
    followers: tuple[str, ...] = ()
    # 問い合わせメモ.
    memo: str = ""
    # Closed with these conversation tags.
    closed_with: tuple[str, ...] | None = None
    # Snoozed until tomorrow morning.
    snoozed: bool = False
    # A message scheduled (送信予約) for tomorrow morning.
    scheduled: str | None = None
    # Who closes, snoozes, schedules and writes memos: the assignee when not given, else the owner.
    by: str | None = None


# By the script's name (its display name, else its channel name).
_CUSTOMERS: dict[str, _Customer] = {
    "【美咲】田中 陽子": _Customer(
        status="完了",
        tags=("常連", "くせ毛", "美咲", "紹介"),
        fields={
            "birthday": "1988-04-12",
            "tel": "090-1234-5678",
            "gender": "女性",
            "parking": "なし",
            "style": "肩上のボブ。乾かすだけでまとまるように。",
        },
        memos=(("好み", "前髪は眉上。耳にかけられる長さは残す。"),),
        visits=(
            _Visit(
                165,
                "カット＋カラー",
                "misaki",
                "ミルクティーベージュ 9レベル。後頭部のくせが強いので量は少なめに",
            ),
            _Visit(108, "カット", "misaki", "肩上のボブに。前髪は眉上"),
            _Visit(52, "カット＋カラー", "misaki", "アッシュベージュ 8レベル。次回も同系色で"),
        ),
        scheduled="田中様、美咲です。土曜日11:00〜のカット＋カラーのご予約、お待ちしております。"
        "ご不明な点があればお気軽にご連絡ください😊",
    ),
    "【翔太】木村 麻衣": _Customer(
        status="完了",
        tags=("常連", "細毛", "翔太", "ホットペッパー"),
        fields={
            "birthday": "1992-11-03",
            "gender": "女性",
            "parking": "なし",
            "style": "ゆるめのレイヤー。トップにボリュームがほしい。",
        },
        visits=(
            _Visit(133, "デジタルパーマ", "shota", "細毛のため薬剤は弱め、ロッドは大きめ"),
            _Visit(68, "カット", "shota", "レイヤーを入れてトップにボリューム"),
        ),
        logs=(_Log(2, "shota", "LINEで予約変更のご連絡。明日14時 → 木曜18時に変更"),),
    ),
    "haru_0312": _Customer(status="未対応", tags=("新規", "Instagram")),
    "【店長】山本 由香": _Customer(
        status="対応中",
        mark="クレーム",
        tags=("常連", "乾燥", "店長", "紹介"),
        fields={
            "birthday": "1985-07-21",
            "tel": "080-2345-6789",
            "gender": "女性",
            "parking": "自転車",
            "stylist": "店長",
            "style": "ワンレンのロングボブ。乾燥しやすいので毎回トリートメント。",
        },
        memos=(
            ("お直し", "左右の長さの差でご連絡あり（前回担当：翔太）。お直しは店長が担当、無料。"),
        ),
        visits=(
            _Visit(
                201,
                "カット＋カラー",
                "owner",
                "ダークブラウン 6レベル。毛先の乾燥にトリートメントをおすすめ",
            ),
            _Visit(96, "カット", "owner"),
            _Visit(5, "カット", "shota", "ロングボブ。毛先を軽く"),
        ),
        logs=(
            _Log(
                4,
                "owner",
                "カット後の左右差についてLINEでご連絡。店長がお直し（無料）、土曜10:30で予約",
            ),
        ),
        followers=("shota",),
        memo="お直し：土曜10:30〜 店長担当（無料）",
    ),
    "ゲスト 4821": _Customer(status="完了", tags=("新規", "ホームページ")),
    "佐藤 健太": _Customer(
        status="完了",
        tags=("新規", "翔太", "ホームページ"),
        fields={"tel": "090-3456-7890", "gender": "男性", "parking": "なし"},
        visits=(
            _Visit(6, "メンズカット＋パーマ", "shota", "初来店。ツーブロック＋ニュアンスパーマ"),
        ),
        closed_with=("予約", "料金"),
        memo="メンズカット＋パーマ（9,900円）のお問い合わせ。金曜19時でご予約。",
    ),
    "【美咲】小林 さくら": _Customer(
        status="完了",
        tags=("常連", "美咲", "Instagram"),
        fields={
            "birthday": "1999-02-14",
            "gender": "女性",
            "parking": "自転車",
            "style": "ハイライト多めの明るめカラー。レイヤー多め。",
        },
        visits=(
            _Visit(134, "カット＋カラー", "misaki", "ラベンダーグレー"),
            _Visit(66, "カット", "misaki"),
            _Visit(
                3, "カット＋カラー", "misaki", "ハイライト＋ラベンダーグレー。次回は2ヶ月後の予定"
            ),
        ),
    ),
    "aya.m_hair": _Customer(status="未対応", mark="質問(中)", tags=("新規", "細毛", "Instagram")),
    "【翔太】伊藤 加奈": _Customer(
        status="完了",
        tags=("常連", "翔太"),
        fields={
            "birthday": "1987-09-30",
            "gender": "女性",
            "parking": "あり",
            "style": "肩につかない長さ。家事の邪魔にならないように。",
        },
        visits=(
            _Visit(97, "カット", "shota"),
            _Visit(41, "カット＋カラー", "shota", "白髪ぼかしのベージュ 7レベル"),
        ),
        logs=(_Log(5, "shota", "お子様の発熱で予約キャンセル（キャンセル料なし）"),),
        closed_with=("予約",),
        memo="お子様の発熱でキャンセル。落ち着いたら再予約のご連絡をいただく予定。",
    ),
    "【店長】渡辺 真由美": _Customer(
        status="完了",
        tags=("VIP", "乾燥", "店長", "紹介"),
        fields={
            "birthday": "1975-05-05",
            "tel": "090-4567-8901",
            "gender": "女性",
            "parking": "あり",
            "style": "白髪ぼかしのハイライト。トップはふんわり。",
        },
        memos=(
            ("ポイント", "10ポイントでトリートメント1回無料。次回のご来店で達成。"),
            ("駐車場", "車で来店。ビル裏のコインパーキング、サービス券1時間分をお渡し。"),
        ),
        visits=(
            _Visit(188, "白髪染め", "owner"),
            _Visit(131, "カット＋カラー", "owner"),
            _Visit(76, "白髪染め", "owner"),
            _Visit(20, "カット＋カラー", "owner", "ハイライトで白髪ぼかし。次回で10ポイント"),
        ),
        logs=(_Log(12, "owner", "ポイント残高のお問い合わせ（LINE）。現在8ポイント"),),
    ),
    "加藤 美穂": _Customer(
        status="未対応",
        tags=("新規", "ホームページ"),
        fields={"gender": "女性", "parking": "あり"},
        memos=(("駐車場", "車で来店予定。コインパーキングのご案内が必要。"),),
    ),
    "【美咲】中島 里奈": _Customer(
        status="未対応",
        tags=("常連", "美咲"),
        fields={
            "birthday": "1995-08-08",
            "gender": "女性",
            "style": "グレージュ系。根元が伸びたらリタッチ。",
        },
        visits=(
            _Visit(118, "カラー", "misaki", "グレージュ 8レベル"),
            _Visit(
                61, "カット＋カラー", "misaki", "グレージュ 8レベル。根元が伸びたらリタッチ希望"
            ),
        ),
    ),
    # His first visit was two days ago (segments: "first 施術履歴 record 2 days ago").
    "たけし": _Customer(
        status="完了",
        tags=("新規", "翔太", "ホットペッパー"),
        fields={"tel": "070-5678-9012", "gender": "男性", "parking": "あり"},
        memos=(
            (
                "駐車場",
                "車で来店（白のワゴン）。ビル裏コインパーキングの2台目に駐車。"
                "サービス券1時間分をお渡し済み。",
            ),
        ),
        visits=(
            _Visit(2, "メンズカット", "shota", "初来店。サイドは刈り上げ、トップは長めに残す"),
        ),
    ),
    "高橋 直子": _Customer(
        status="完了",
        tags=("常連", "店長", "紹介"),
        fields={
            "birthday": "1984-03-18",
            "tel": "080-6789-0123",
            "gender": "女性",
            "parking": "あり",
        },
        memos=(("ご家族", "5歳の娘さんと一緒に来店。キッズチェアを用意する。"),),
        visits=(
            _Visit(152, "カット", "owner"),
            _Visit(9, "カット", "owner", "お嬢様（5歳）のキッズカット 2,200円と一緒に", price=7150),
        ),
    ),
    "【翔太】松本 美優": _Customer(
        status="連絡待ち",
        tags=("常連", "翔太", "Instagram"),
        fields={
            "birthday": "1997-07-28",
            "gender": "女性",
            "style": "ゆるふわの巻き髪。結婚式は編み込みのアップで。",
        },
        visits=(_Visit(83, "カット＋カラー", "shota"), _Visit(27, "カット", "shota")),
    ),
    "【美咲】井上 千尋": _Customer(
        status="未対応",
        tags=("常連", "乾燥", "美咲"),
        fields={
            "birthday": "1990-12-01",
            "tel": "090-7890-1234",
            "gender": "女性",
            "parking": "なし",
            "style": "明るめのブラウン（ノンジアミンカラー）。",
        },
        memos=(
            (
                "アレルギー",
                "ジアミンで赤み。ノンジアミンカラーを使用し、施術の48時間前にパッチテスト。",
            ),
            ("好み", "明るめのブラウン。暗くなりすぎない色が好き。"),
        ),
        visits=(
            _Visit(
                187,
                "カット＋カラー",
                "misaki",
                "カラー後に頭皮の赤み。以後ノンジアミンカラーで対応",
            ),
            _Visit(102, "カット＋カラー", "misaki", "ノンジアミンカラー 8レベル。かゆみなし"),
            _Visit(44, "カット", "misaki"),
        ),
        logs=(
            _Log(
                186,
                "misaki",
                "カラー後に頭皮の赤みが出たとお電話。皮膚科の受診をおすすめし、"
                "次回からノンジアミンカラーで対応",
            ),
        ),
    ),
    "けんじ": _Customer(
        status="未対応",
        tags=("常連", "翔太"),
        fields={"gender": "男性"},
        visits=(_Visit(36, "メンズカット", "shota"),),
    ),
    "ゲスト 7730": _Customer(
        status="連絡待ち",
        tags=("新規", "くせ毛", "ホームページ"),
        memo="縮毛矯正（ロング 18,700円）をご案内。検討中とのことなので明日フォロー。",
        snoozed=True,
        by="shota",
    ),
    "【店長】森 優花": _Customer(
        status="完了",
        tags=("VIP", "店長", "Instagram"),
        fields={
            "birthday": "1993-10-10",
            "gender": "女性",
            "style": "アッシュグレージュ 8レベル。ツヤ重視。",
        },
        visits=(
            _Visit(212, "カット＋カラー", "owner"),
            _Visit(151, "カラー", "owner"),
            _Visit(96, "カット＋カラー", "owner", "アッシュグレージュ 8レベル"),
            _Visit(41, "カラー", "owner", "アッシュグレージュ 8レベル（前回と同じ）"),
            _Visit(5, "カット＋カラー", "owner", "アッシュグレージュ 8レベル"),
        ),
    ),
    "【翔太】清水 夏希": _Customer(
        status="未対応",
        tags=("常連", "翔太", "ホットペッパー"),
        fields={"birthday": "1996-06-21", "gender": "女性"},
        visits=(_Visit(92, "カット", "shota"), _Visit(31, "カット＋カラー", "shota")),
    ),
    "山口 隆": _Customer(
        status="完了",
        fields={"gender": "男性"},
        logs=(_Log(17, "misaki", "ギフト券 5,000円を店頭で販売（お母様の誕生日プレゼント）"),),
    ),
    "【美咲】斎藤 桃子": _Customer(
        status="完了",
        tags=("VIP", "乾燥", "美咲", "紹介"),
        fields={
            "birthday": "1991-01-25",
            "tel": "090-8901-2345",
            "gender": "女性",
            "style": "ピンクブラウン 7レベル。ツヤとまとまり重視。",
        },
        memos=(("次回", "酸熱トリートメントを追加。カラーは前回と同じ7レベルのピンクブラウン。"),),
        visits=(
            _Visit(223, "カット＋カラー", "misaki"),
            _Visit(161, "カット＋カラー", "misaki"),
            _Visit(104, "カラー", "misaki"),
            _Visit(51, "カット＋カラー", "misaki", "ピンクブラウン 7レベル"),
        ),
    ),
    "りょう": _Customer(status="未対応", tags=("新規",), fields={"gender": "男性"}),
    "sora.tabi": _Customer(tags=("Instagram",)),
    "岡田 智子": _Customer(
        status="完了",
        tags=("常連", "店長", "ホームページ"),
        fields={
            "birthday": "1968-02-02",
            "gender": "女性",
            "parking": "あり",
            "style": "白髪染め。しみにくい低刺激のカラー剤で。",
        },
        memos=(("頭皮", "頭皮が敏感でしみやすい。低刺激のカラー剤を使用。"),),
        visits=(
            _Visit(72, "白髪染め", "owner", "低刺激のカラー剤。しみなし"),
            _Visit(36, "白髪染め", "owner"),
        ),
    ),
    "【店長】長谷川 裕美": _Customer(
        status="未対応",
        tags=("常連", "店長"),
        fields={"gender": "女性", "style": "重めのワンレン。前髪は眉下ギリギリ。"},
        visits=(_Visit(63, "カット", "owner"), _Visit(22, "前髪カット", "owner")),
    ),
    "【美咲】エミリー ブラウン": _Customer(
        status="完了",
        tags=("新規", "美咲"),
        fields={"gender": "女性"},
        memos=(("言語", "英語で対応（日本語は簡単な会話のみ）。"),),
        visits=(_Visit(7, "カット", "misaki", "English. レイヤーカット、5cmカット"),),
    ),
    "【翔太】前田 純": _Customer(
        status="対応中",
        tags=("常連", "細毛", "翔太"),
        fields={"gender": "男性", "style": "ニュアンスパーマ。朝は乾かすだけで決まるように。"},
        visits=(
            _Visit(64, "メンズカット", "shota"),
            _Visit(8, "デジタルパーマ", "shota", "細毛のため薬剤弱め"),
        ),
        message_mark=("クレーム", "先週パーマかけたんですけど"),
        followers=("owner",),
    ),
    "ゲスト 2096": _Customer(),
    "【美咲】藤田 琴音": _Customer(
        status="完了",
        tags=("常連", "美咲", "Instagram"),
        fields={
            "birthday": "2001-09-09",
            "gender": "女性",
            "style": "インナーカラー（ラベンダー）。",
        },
        visits=(
            _Visit(91, "カット", "misaki"),
            _Visit(
                12,
                "インナーカラー",
                "misaki",
                "カット＋インナーカラー（ラベンダー）。ブリーチ1回",
                price=14300,
            ),
        ),
    ),
    "【店長】石井 孝子": _Customer(
        status="対応中",
        tags=("VIP", "くせ毛", "店長", "紹介"),
        fields={
            "birthday": "1978-11-11",
            "tel": "090-9012-3456",
            "gender": "女性",
            "parking": "あり",
            "style": "縮毛矯正で顔まわりのくせをおさえる。",
        },
        memos=(("ご家族", "中学生の娘さんも一緒にカット（翔太が担当）。"),),
        visits=(
            _Visit(243, "縮毛矯正", "owner", "前髪と顔まわりのくせ"),
            _Visit(181, "カット＋カラー", "owner"),
            _Visit(122, "カット＋カラー", "owner"),
            _Visit(60, "縮毛矯正", "owner", "根元のリタッチ"),
            _Visit(19, "カット＋カラー", "owner"),
        ),
    ),
}


class _Clock:
    """What ``ctx.now()`` answers while the demo is written: the time something happened (a
    visit, a close), or the real time when none is set."""

    def __init__(self, real: Callable[[], datetime]) -> None:
        self.real = real
        self.at: datetime | None = None

    def __call__(self) -> datetime:
        return self.at if self.at is not None else self.real()

    @contextlib.contextmanager
    def set(self, at: datetime | None) -> Iterator[None]:
        previous, self.at = self.at, at
        try:
            yield
        finally:
            self.at = previous


@dataclass(frozen=True)
class _Workspace:
    """What the salon's settings hold, by name."""

    tags: dict[str, int]
    conversation_tags: dict[str, int]
    templates: dict[str, int]
    actions: dict[str, int]


async def _status_ids(ctx: Ctx) -> dict[str, int]:
    """The default statuses (未対応, 対応中, 連絡待ち, 完了) by name, made again if missing."""
    found = {status.name: status.id for status in await statuses.list_statuses(ctx.db)}
    for name, color in DEFAULT_STATUSES:
        if name not in found:
            found[name] = (await statuses.create_status(ctx, name=name, color=color)).id
    return found


async def _set_up_workspace(ctx: Ctx) -> _Workspace:
    """Tags in folders, profile fields in folders, record books, conversation tags, templates
    and actions, as the salon's owner would set them up in the settings."""
    tag_ids: dict[str, int] = {}
    for folder_name, names in _TAG_FOLDERS:
        folder = await tags.create_folder(ctx, actor=None, name=folder_name)
        for name in names:
            tag_ids[name] = (await tags.create_tag(ctx, actor=None, name=name, folder=folder.id)).id
    field_folders: dict[str, int] = {}
    for folder_name, key, label, field_type, options, shown in _FIELDS:
        if folder_name not in field_folders:
            field_folders[folder_name] = (await fields.create_folder(ctx, name=folder_name)).id
        await fields.create_field(
            ctx,
            key=key,
            label=label,
            type=field_type,
            folder=field_folders[folder_name],
            options=list(options),
            show_in_chat=shown,
        )
    for name, book_fields in _RECORD_BOOKS:
        await records.create_book(ctx, name=name, fields=book_fields)
    conversation_tags = {
        name: (await workflow.create_conversation_tag(ctx, name=name, color=color)).id
        for name, color in _CONVERSATION_TAGS
    }
    template_ids = {
        name: (await templates.create_template(ctx, name=name, text=body, folder=folder)).id
        for folder, name, body in _TEMPLATES
    }
    status_ids = await _status_ids(ctx)
    action_steps: dict[str, list[dict[str, Any]]] = {
        VIP_ACTION: [
            {"type": "add_tags", "tag_ids": [tag_ids["VIP"]]},
            {"type": "set_status", "status": status_ids["対応中"]},
        ],
        BOOKED_ACTION: [
            {"type": "send_template", "template_id": template_ids[BOOKED_TEMPLATE]},
            {"type": "set_status", "status": status_ids["完了"]},
        ],
    }
    action_ids = {
        name: (await macros.create_action(ctx, name=name, steps=steps)).id
        for name, steps in action_steps.items()
    }
    return _Workspace(
        tags=tag_ids,
        conversation_tags=conversation_tags,
        templates=template_ids,
        actions=action_ids,
    )


def _visit_day(visit: _Visit, today: date) -> date:
    day = today - timedelta(days=visit.days_ago)
    # Older visits avoid the closed day; recent ones are where the conversations put them.
    if visit.days_ago >= 8 and day.weekday() == CLOSED_WEEKDAY:
        day -= timedelta(days=1)
    return day


def _visit_at(visit: _Visit, today: date, zone: tzinfo) -> datetime:
    """In salon hours (11:00–18:30), varying with the day."""
    at = time(11 + visit.days_ago * 3 % 8, 30 if visit.days_ago % 2 else 0)
    return datetime.combine(_visit_day(visit, today), at, zone)


def _profile(customer: _Customer, today: date) -> dict[str, Any]:
    """The customer's profile values: those given, and what their visits say."""
    values: dict[str, Any] = {}
    if customer.visits:
        newest = min(customer.visits, key=lambda visit: visit.days_ago)
        values = {
            "points": POINTS_PER_VISIT * len(customer.visits),
            "last_visit": _visit_day(newest, today).isoformat(),
            "stylist": _STAFF_LABELS[newest.staff],
        }
    return {**values, **customer.fields}


@dataclass(frozen=True)
class _Furnishing:
    """One demo customer as written: who, in which conversation, by whom."""

    customer: _Customer
    contact_id: int
    conversation_id: int
    # The time of their conversation's last message.
    last_at: datetime
    actor: Member


async def _furnish(
    ctx: Ctx,
    clock: _Clock,
    one: _Furnishing,
    *,
    staff: dict[str, Member],
    workspace: _Workspace,
    zone: tzinfo,
    now: datetime,
) -> None:
    """Everything the salon keeps about one customer, through the services, each at the time it
    would have happened: the profile just after the conversation's last message, records at
    their visits, the close after that; a snooze and a scheduled message now."""
    customer, contact_id, conversation_id = one.customer, one.contact_id, one.conversation_id
    today = now.astimezone(zone).date()
    # A few moments after the last message (and before now), in order.
    step = min(timedelta(minutes=1), (now - one.last_at) / 5)

    with clock.set(one.last_at + step):
        if customer.status or customer.mark:
            await contacts.update_contact(
                ctx,
                contact_id=contact_id,
                changes=contacts.ContactChanges(
                    status=customer.status,
                    set_status=customer.status is not None,
                    mark=customer.mark,
                    set_mark=customer.mark is not None,
                ),
            )
        if customer.tags:
            await tags.set_tags(
                ctx,
                contact_id=contact_id,
                tag_ids=[workspace.tags[name] for name in customer.tags],
            )
        for key, value in _profile(customer, today).items():
            await fields.set_value(ctx, contact_id=contact_id, key=key, value=value)
        # Each new memo goes on top: the last one first.
        for title, body in reversed(customer.memos):
            await memos.create_memo(
                ctx, contact_id=contact_id, title=title, body=body, author=one.actor
            )
        if customer.memo and customer.closed_with is None:
            await workflow.set_memo(ctx, conversation_id=conversation_id, memo=customer.memo)
    for visit in customer.visits:
        at = _visit_at(visit, today, zone)
        price = _RECORD_MENUS[visit.menu] if visit.price is None else visit.price
        with clock.set(min(at + timedelta(hours=2), now)):
            await records.create_record(
                ctx,
                contact_id=contact_id,
                book=TREATMENTS,
                at=at,
                values_={
                    "menu": visit.menu,
                    "staff": _STAFF_LABELS[visit.staff],
                    "price": price,
                    "note": visit.note,
                },
                author=staff[visit.staff],
            )
    for log in customer.logs:
        at = datetime.combine(today - timedelta(days=log.days_ago), time(19, 30), zone)
        with clock.set(min(at, now)):
            await records.create_record(
                ctx,
                contact_id=contact_id,
                book=SUPPORT_LOG,
                at=at,
                values_={"note": log.note},
                author=staff[log.staff],
            )
    if customer.message_mark is not None:
        mark, beginning = customer.message_mark
        message_id = await ctx.db.scalar(
            select(Message.id)
            .where(
                Message.conversation_id == conversation_id,
                Message.kind == MessageKind.inbound,
                Message.text.startswith(beginning, autoescape=True),
            )
            .order_by(Message.id)
            .limit(1)
        )
        if message_id is None:
            raise ValueError(f"no message starting {beginning!r} to mark")
        await marks.mark_message(ctx, message_id=message_id, mark=mark)
    with clock.set(one.last_at + 2 * step):
        for key in customer.followers:
            member = staff[key]
            await workflow.follow(
                ctx, conversation_id=conversation_id, member_id=member.id, actor=member
            )
    if customer.closed_with is not None:
        with clock.set(one.last_at + 3 * step):
            await workflow.close(
                ctx,
                conversation_id=conversation_id,
                actor=one.actor,
                tag_ids=[workspace.conversation_tags[name] for name in customer.closed_with],
                memo=customer.memo or None,
            )
    tomorrow_morning = datetime.combine(today + timedelta(days=1), OPENS, zone)
    if customer.snoozed:
        await workflow.snooze(
            ctx, conversation_id=conversation_id, until=tomorrow_morning, actor=one.actor
        )
    if customer.scheduled:
        await scheduled.schedule(
            ctx,
            contact_id=contact_id,
            text=customer.scheduled,
            at=tomorrow_morning,
            author=one.actor,
        )


async def load_demo(ctx: Ctx) -> DemoResult:
    """A hair salon (ヘアサロン ルミエール): three members, five channels, thirty-one customers
    with their conversations, and what the salon keeps about them: statuses, marks, tags, profile
    fields, memos, visit and support records; closed, snoozed and assigned conversations,
    templates, actions and a scheduled message. One transaction: all of it, or nothing."""
    clock = _Clock(ctx.now)
    # The same session and bus, with a clock the demo can turn back.
    work = Ctx(db=ctx.db, bus=ctx.bus, settings=ctx.settings, clock=clock)
    now = ctx.now()
    async with work.atomic():
        staff: dict[str, Member] = {}
        passwords: dict[str, str] = {}
        for key, email, name, role in _SALON_MEMBERS:
            password = new_password()
            staff[key] = await members.create_member(
                work, email=email, name=name, role=role, password=password
            )
            passwords[email] = password
        salon_channels = await _demo_channels(work)
        # Fresh ids each load (they only need to be unique); the texts and times are fixed.
        rng = random.Random(secrets.randbits(64))
        zone = _zone(ctx)
        today = now.astimezone(zone).date()
        histories = []
        for script in _SCRIPTS:
            lines = script.steps()
            hour, minute = (int(part) for part in script.start.split(":"))
            times = _timeline(
                first_day=today - timedelta(days=script.days_ago),
                start=time(hour, minute),
                steps=[(who != "c", delay) for who, delay, _ in lines],
                zone=zone,
                now=now,
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
        written = await write_histories(work, histories=histories, members=list(staff.values()))
        workspace = await _set_up_workspace(work)
        for script, history, contact_id, conversation_id in zip(
            _SCRIPTS, histories, written.contact_ids, written.conversation_ids, strict=True
        ):
            customer = _CUSTOMERS.get(script.name, _Customer())
            one = _Furnishing(
                customer=customer,
                contact_id=contact_id,
                conversation_id=conversation_id,
                last_at=history.messages[-1].at,
                actor=staff[customer.by or script.assignee or "owner"],
            )
            await _furnish(work, clock, one, staff=staff, workspace=workspace, zone=zone, now=now)
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
# Statuses and tags come from a generator of their own: the histories stay as they were.
SCALE_CRM_SEED = SCALE_SEED + 1
# Status shares: (name, share) for conversations waiting for an answer, and for the others;
# what is left has none (about 80% have one in all).
_SCALE_STATUSES_UNREAD = (("未対応", 0.9), ("対応中", 0.1))
_SCALE_STATUSES_READ = (("完了", 0.55), ("連絡待ち", 0.1), ("対応中", 0.06))
# Tags: (folder, name, share). The ranks exclude each other; the others are drawn apart.
_SCALE_RANKS = (
    ("顧客ランク", "VIP", 0.05),
    ("顧客ランク", "常連", 0.35),
    ("顧客ランク", "新規", 0.15),
)
_SCALE_OTHER_TAGS = (("来店きっかけ", "Instagram", 0.2), ("髪質診断", "くせ毛", 0.25))
SCALE_TAGS = tuple((folder, name) for folder, name, _ in (*_SCALE_RANKS, *_SCALE_OTHER_TAGS))


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
    # Statuses and tags by name, and the generator that picks them.
    status_ids: dict[str, int]
    tag_ids: dict[str, int]
    crm_rng: random.Random
    serial: int = 0

    def _status(self, unread: bool) -> int | None:
        roll = self.crm_rng.random()
        for name, share in _SCALE_STATUSES_UNREAD if unread else _SCALE_STATUSES_READ:
            if roll < share:
                return self.status_ids[name]
            roll -= share
        return None

    def _tags(self) -> tuple[int, ...]:
        rng = self.crm_rng
        chosen = []
        roll = rng.random()
        for _folder, name, share in _SCALE_RANKS:
            if roll < share:
                chosen.append(self.tag_ids[name])
                break
            roll -= share
        for _folder, name, share in _SCALE_OTHER_TAGS:
            if rng.random() < share:
                chosen.append(self.tag_ids[name])
        return tuple(chosen)

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
            status_id=self._status(unread),
            tag_ids=self._tags(),
        )


def _short_name(member: Member) -> str:
    """店長 for the owner, else the given name (the last word of the name)."""
    return "店長" if member.role == Role.owner else member.name.split()[-1]


async def _scale_tag_ids(ctx: Ctx) -> dict[str, int]:
    """The scale's tags by name: those in their folders already (the demo's), else new ones."""
    found: dict[str, int] = {}
    for folder, name in SCALE_TAGS:
        tag_id = await ctx.db.scalar(
            select(Tag.id)
            .join(TagFolder, TagFolder.id == Tag.folder_id)
            .where(Tag.name == name, TagFolder.name == folder, TagFolder.parent_id.is_(None))
            .order_by(Tag.id)
            .limit(1)
        )
        if tag_id is None:
            tag_id = (await tags.create_tag(ctx, actor=None, name=name, folder=folder)).id
        found[name] = tag_id
    return found


async def load_scale(ctx: Ctx, *, contacts: int) -> ScaleResult:
    """``contacts`` contacts with 3–12 message conversations over the last year, about 30%
    unread, about 80% with a status (未対応 for most unread ones, 完了 for most others) and tags
    (顧客ランク VIP 5%, 常連 35%, 新規 15%; Instagram 20%; くせ毛 25%), written in batches
    (each committed). Adds to what the database already holds."""
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
        status_ids=await _status_ids(ctx),
        tag_ids=await _scale_tag_ids(ctx),
        crm_rng=random.Random(SCALE_CRM_SEED),
    )
    made = Written(contacts=0, messages=0, unread=0)
    async with search.bulk_loading(ctx.db):
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
        tables = [Contact, ContactTag, Conversation, Message, ConversationUnread, Notification]
        names = [_table(model).name for model in tables]
        names += [search.CONTACTS.name, search.MESSAGES.name, search.CONVERSATIONS]
        await ctx.db.execute(text(f"ANALYZE {', '.join(names)}"))
        await ctx.commit()
    return ScaleResult(
        contacts=made.contacts,
        messages=made.messages,
        unread=made.unread,
        new_members=new_members,
    )
