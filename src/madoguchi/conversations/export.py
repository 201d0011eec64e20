"""Exporting conversations for the shop's records (F45): one conversation, or every conversation
of a filtered inbox, as text, CSV or PDF.

The file is produced as a stream of byte chunks. The inbox's own list query
(``repository.list_conversations``) is walked a keyset page at a time, and each conversation's
messages a batch at a time, so text and CSV of 100,000 conversations never sit in memory. A PDF
is built by ReportLab, which keeps its pages until it saves: a PDF holds at most
:data:`MAX_PDF_CONVERSATIONS` conversations and :data:`MAX_PDF_MESSAGES` messages (refused
before anything is written above that; text and CSV have no limit).

Times are written in the workspace's zone; internal notes (社内メモ) are marked as notes, or left
out when asked. Words in the file (column names, "Note") come from the caller's ``gettext``.
"""

from __future__ import annotations

import io
import tempfile
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from reportlab.lib.pagesizes import A4
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfgen.canvas import Canvas
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from madoguchi.conversations import repository
from madoguchi.conversations.models import Conversation, Message, MessageKind
from madoguchi.conversations.repository import Cursor, InboxItem, InboxQuery
from madoguchi.files import service as files
from madoguchi.kit import spreadsheet
from madoguchi.kit.errors import Invalid
from madoguchi.kit.i18n import gettext_for
from madoguchi.members import service as members

# Conversations read per keyset page, and messages per batch: what is held at once.
EXPORT_PAGE = 50
MESSAGE_BATCH = 500
# ReportLab keeps a document's pages until it is saved: a PDF is bounded, text and CSV are not.
MAX_PDF_CONVERSATIONS = 1000
MAX_PDF_MESSAGES = 20000
# A chunk is handed to the response once it holds this much.
CHUNK_BYTES = 64 * 1024

# ReportLab's built-in Japanese font (Adobe-Japan1 CID, no font file to ship).
PDF_FONT = "HeiseiKakuGo-W5"
PDF_SIZE = 9.5
PDF_LEADING = 14.0
PDF_MARGIN = 42.0


class ExportFormat(StrEnum):
    txt = "txt"
    csv = "csv"
    pdf = "pdf"


MEDIA_TYPES = {
    ExportFormat.txt: "text/plain; charset=utf-8",
    ExportFormat.csv: "text/csv; charset=utf-8",
    ExportFormat.pdf: "application/pdf",
}


def export_format(value: str) -> ExportFormat:
    try:
        return ExportFormat(value)
    except ValueError:
        raise Invalid("The format is txt, csv or pdf.") from None


@dataclass(frozen=True)
class ExportOptions:
    format: ExportFormat
    # Internal notes (社内メモ) marked as notes, or left out.
    notes: bool = True
    # CSV only: utf-8 (with a BOM, for Excel) or cp932 (Shift_JIS).
    encoding: str = "utf-8"
    timezone: str = "Asia/Tokyo"
    gettext: Callable[[str], str] = field(default=lambda text: text)

    def __post_init__(self) -> None:
        if self.encoding not in spreadsheet.CSV_ENCODINGS:
            raise Invalid("The encoding is utf-8 or cp932.")
        if self.encoding != "utf-8" and self.format != ExportFormat.csv:
            raise Invalid("Only a CSV export can be written in cp932.")

    @property
    def media_type(self) -> str:
        if self.format == ExportFormat.csv and self.encoding == "cp932":
            return "text/csv; charset=Shift_JIS"
        return MEDIA_TYPES[self.format]


def options_for(
    format: str, *, notes: bool, encoding: str, timezone: str, language: str
) -> ExportOptions:
    """The options a member's request asks for, in the member's language (the API's routes and
    the inbox's export menu alike)."""
    return ExportOptions(
        format=export_format(format),
        notes=notes,
        encoding=encoding,
        timezone=timezone,
        gettext=gettext_for(language).gettext,
    )


@dataclass(frozen=True)
class Export:
    """A file to send: its name, its type, and its bytes as they are made."""

    filename: str
    media_type: str
    chunks: AsyncIterator[bytes]


# --- what is written -----------------------------------------------------------------------


@dataclass(frozen=True)
class _Names:
    members: dict[int, str]


@dataclass(frozen=True)
class _Line:
    """One message as every format writes it."""

    at: str
    sender: str
    kind: str
    text: str


class _Words:
    """The file's words in the member's language (extracted by Babel through ``_``)."""

    def __init__(self, gettext: Callable[[str], str]) -> None:
        _ = gettext
        self.conversation = _("Conversation")
        self.customer = _("Customer name")
        self.channel = _("Channel")
        self.status = _("Status")
        self.assignee = _("Assignee")
        self.state = _("State")
        self.started = _("Started")
        self.last_activity = _("Last activity")
        self.time = _("Time")
        self.sender = _("Sender")
        self.kind = _("Message kind")
        self.text = _("Message text")
        self.none = _("None")
        self.images = _("Images: %(n)s")
        self.system = _("System")
        self.states = {"open": _("Open"), "closed": _("Closed"), "snoozed": _("Snoozed")}
        self.kinds = {
            MessageKind.inbound: _("From the customer"),
            MessageKind.reply: _("Reply"),
            MessageKind.note: _("Note"),
            MessageKind.system: _("System"),
        }


def _when(moment: datetime | None, zone: ZoneInfo) -> str:
    return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M") if moment else ""


class _Writer:
    """What every format shares: the words, the zone, the names; each format's pieces."""

    def __init__(self, options: ExportOptions, names: _Names) -> None:
        self.options = options
        self.words = _Words(options.gettext)
        self.zone = ZoneInfo(options.timezone)
        self.names = names

    def header(self, item: InboxItem) -> list[tuple[str, str]]:
        conversation, words = item.conversation, self.words
        channel = item.channel
        assignee = self.names.members.get(conversation.assignee_id or 0, "")
        return [
            (words.conversation, f"#{conversation.id}"),
            (words.customer, item.contact.display_name),
            (words.channel, f"{channel.name} ({channel.kind})"),
            (words.status, item.status.name if item.status else words.none),
            (words.assignee, assignee or words.none),
            (words.state, words.states.get(conversation.state, conversation.state)),
            (words.started, _when(conversation.created_at, self.zone)),
            (words.last_activity, _when(conversation.last_activity_at, self.zone)),
        ]

    def line(self, item: InboxItem, message: Message, images: int) -> _Line:
        if message.kind == MessageKind.inbound:
            sender = item.contact.display_name
        elif message.sender_member_id is not None:
            sender = self.names.members.get(message.sender_member_id, "")
        else:
            sender = self.words.system
        text = message.text
        if images:
            text = (text + "\n" if text else "") + f"[{self.words.images % {'n': images}}]"
        kind = self.words.kinds.get(MessageKind(message.kind), message.kind)
        return _Line(at=_when(message.created_at, self.zone), sender=sender, kind=kind, text=text)


async def _messages(
    db: AsyncSession, conversation_id: int, *, notes: bool
) -> AsyncIterator[list[tuple[Message, int]]]:
    """A conversation's messages, oldest first, a batch at a time, each with its image count."""
    after = 0
    while True:
        statement = (
            select(Message)
            .where(Message.conversation_id == conversation_id, Message.id > after)
            .order_by(Message.id)
            .limit(MESSAGE_BATCH)
        )
        if not notes:
            statement = statement.where(Message.kind != MessageKind.note)
        batch = list(await db.scalars(statement))
        if not batch:
            return
        images = await files.message_images(db, [m.id for m in batch])
        yield [(message, len(images[message.id])) for message in batch]
        if len(batch) < MESSAGE_BATCH:
            return
        after = batch[-1].id


Batch = list[tuple[Message, int]]
Batches = AsyncIterator[Batch]


async def _once(batch: Batch) -> Batches:
    if batch:
        yield batch


async def _loaded(db: AsyncSession, items: list[InboxItem], *, notes: bool) -> list[Batch]:
    """The messages of a few conversations in one query (a batch's worth in all), in order."""
    if not items:
        return []
    statement = (
        select(Message)
        .where(Message.conversation_id.in_([item.conversation.id for item in items]))
        .order_by(Message.conversation_id, Message.id)
    )
    if not notes:
        statement = statement.where(Message.kind != MessageKind.note)
    messages = list(await db.scalars(statement))
    images = await files.message_images(db, [m.id for m in messages])
    by_conversation: dict[int, Batch] = {item.conversation.id: [] for item in items}
    for message in messages:
        by_conversation[message.conversation_id].append((message, len(images[message.id])))
    return [by_conversation[item.conversation.id] for item in items]


async def _with_messages(
    db: AsyncSession, items: list[InboxItem], *, notes: bool
) -> AsyncIterator[tuple[InboxItem, Batches]]:
    """A page's conversations, in its order, each with its messages. Conversations whose
    messages fit a batch together are read in one query (a page of 50 small conversations: two
    queries, not a hundred); a longer one is read a batch at a time on its own. Never more than
    a batch of messages (and one page) is held."""
    if not items:
        return
    counting = (
        select(Message.conversation_id, func.count(Message.id))
        .where(Message.conversation_id.in_([item.conversation.id for item in items]))
        .group_by(Message.conversation_id)
    )
    if not notes:
        counting = counting.where(Message.kind != MessageKind.note)
    counts: dict[int, int] = {cid: int(n) for cid, n in (await db.execute(counting)).all()}
    group: list[InboxItem] = []
    size = 0
    for item in items:
        count = counts.get(item.conversation.id, 0)
        if group and (count > MESSAGE_BATCH or size + count > MESSAGE_BATCH):
            for grouped, batch in zip(group, await _loaded(db, group, notes=notes), strict=True):
                yield grouped, _once(batch)
            group, size = [], 0
        if count > MESSAGE_BATCH:
            yield item, _messages(db, item.conversation.id, notes=notes)
            continue
        group.append(item)
        size += count
    for grouped, batch in zip(group, await _loaded(db, group, notes=notes), strict=True):
        yield grouped, _once(batch)


# --- text ----------------------------------------------------------------------------------


async def _text_of(writer: _Writer, item: InboxItem, batches: Batches) -> AsyncIterator[str]:
    lines = [f"==== {writer.words.conversation} #{item.conversation.id} ===="]
    lines += [f"{label}: {value}" for label, value in writer.header(item)[1:]]
    yield "\n".join(lines) + "\n\n"
    async for batch in batches:
        out = []
        for message, images in batch:
            line = writer.line(item, message, images)
            marker = f" [{line.kind}]" if message.kind != MessageKind.inbound else ""
            body = line.text.replace("\r\n", "\n").replace("\n", "\n    ")
            out.append(f"[{line.at}] {line.sender}{marker}\n    {body}\n")
        yield "".join(out)
    yield "\n"


# --- CSV -----------------------------------------------------------------------------------


class _Csv:
    """Rows written formula-safe (kit.spreadsheet), encoded as asked, a few at a time."""

    def __init__(self, encoding: str) -> None:
        self.encoding = encoding
        self.buffer = io.StringIO()
        self.writer = spreadsheet.CsvWriter(self.buffer)

    def row(self, cells: Sequence[Any]) -> None:
        if self.encoding == "cp932":
            cells = [spreadsheet.shift_jis_text(c) if isinstance(c, str) else c for c in cells]
        self.writer.writerow(cells)

    def take(self) -> bytes:
        text = self.buffer.getvalue()
        self.buffer.seek(0)
        self.buffer.truncate()
        return text.encode(self.encoding)


def _csv_columns(words: _Words) -> list[str]:
    return [
        words.conversation,
        words.customer,
        words.channel,
        words.status,
        words.assignee,
        words.state,
        words.time,
        words.sender,
        words.kind,
        words.text,
    ]


async def _csv_of(
    writer: _Writer, item: InboxItem, batches: Batches, out: _Csv
) -> AsyncIterator[bytes]:
    header = [value for _label, value in writer.header(item)[:6]]
    header[0] = str(item.conversation.id)
    written = False
    async for batch in batches:
        for message, images in batch:
            line = writer.line(item, message, images)
            out.row([*header, line.at, line.sender, line.kind, line.text])
            written = True
        yield out.take()
    if not written:  # a conversation with nothing (left) to show is still in the file
        out.row([*header, "", "", "", ""])
        yield out.take()


# --- PDF -----------------------------------------------------------------------------------


def _pdf_font() -> str:
    if PDF_FONT not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(UnicodeCIDFont(PDF_FONT))
    return PDF_FONT


def _pdf_safe(text: str) -> str:
    """The font's encoding (UCS-2) holds the Basic Multilingual Plane: an emoji becomes 〓."""
    return "".join(ch if ord(ch) <= 0xFFFF else spreadsheet.STAND_IN for ch in text)


def wrap(text: str, width: float, *, font: str = PDF_FONT, size: float = PDF_SIZE) -> list[str]:
    """The text as lines no wider than ``width`` points. Japanese has no spaces to break at:
    a line breaks at the character that would overflow (a Latin word stays whole when it fits)."""
    lines: list[str] = []
    for paragraph in text.replace("\r\n", "\n").split("\n"):
        current = ""
        for char in paragraph:
            if pdfmetrics.stringWidth(current + char, font, size) <= width:
                current += char
                continue
            head, space, tail = current.rpartition(" ")
            if space and char != " " and tail.isascii() and head:
                lines.append(head)
                current = tail + char
            else:
                lines.append(current)
                current = char.lstrip(" ")
        lines.append(current)
    return lines


class _Pdf:
    """A4 pages of wrapped lines, a new page when one is full."""

    def __init__(self, out: Any, title: str) -> None:
        self.font = _pdf_font()
        self.canvas = Canvas(out, pagesize=A4, pageCompression=1)
        self.canvas.setTitle(title)
        self.width, self.height = A4
        self.y = 0.0
        self._new_page(first=True)

    def _new_page(self, *, first: bool = False) -> None:
        if not first:
            self.canvas.showPage()
        self.canvas.setFont(self.font, PDF_SIZE)
        self.y = self.height - PDF_MARGIN

    def write(self, text: str, *, indent: float = 0.0, size: float = PDF_SIZE) -> None:
        usable = self.width - 2 * PDF_MARGIN - indent
        for line in wrap(_pdf_safe(text), usable, font=self.font, size=size):
            if self.y < PDF_MARGIN:
                self._new_page()
            self.canvas.setFont(self.font, size)
            self.canvas.drawString(PDF_MARGIN + indent, self.y, line)
            self.y -= PDF_LEADING * size / PDF_SIZE

    def gap(self) -> None:
        self.y -= PDF_LEADING / 2

    def page_break(self) -> None:
        self._new_page()

    def save(self) -> None:
        self.canvas.save()


async def _pdf_of(writer: _Writer, item: InboxItem, batches: Batches, pdf: _Pdf) -> None:
    pdf.write(f"{writer.words.conversation} #{item.conversation.id}", size=PDF_SIZE + 3)
    for label, value in writer.header(item)[1:]:
        pdf.write(f"{label}: {value}")
    pdf.gap()
    async for batch in batches:
        for message, images in batch:
            line = writer.line(item, message, images)
            marker = f" [{line.kind}]" if message.kind != MessageKind.inbound else ""
            pdf.write(f"{line.at}  {line.sender}{marker}")
            pdf.write(line.text, indent=14)
            pdf.gap()


# --- the streams ---------------------------------------------------------------------------

ItemPages = Callable[[], AsyncIterator[list[InboxItem]]]


async def _stream(
    db: AsyncSession, options: ExportOptions, names: _Names, pages: ItemPages, title: str
) -> AsyncIterator[bytes]:
    writer = _Writer(options, names)
    if options.format == ExportFormat.pdf:
        async for chunk in _pdf_stream(db, writer, pages, title):
            yield chunk
        return
    pending: list[bytes] = []
    size = 0
    out = _Csv(options.encoding)
    if options.format == ExportFormat.csv:
        if options.encoding == "utf-8":
            pending.append("\ufeff".encode())
        out.row(_csv_columns(writer.words))
        pending.append(out.take())
    async for page in pages():
        async for item, batches in _with_messages(db, page, notes=options.notes):
            parts: AsyncIterator[Any] = (
                _csv_of(writer, item, batches, out)
                if options.format == ExportFormat.csv
                else _text_of(writer, item, batches)
            )
            async for part in parts:
                data = part if isinstance(part, bytes) else part.encode()
                pending.append(data)
                size += len(data)
                if size >= CHUNK_BYTES:
                    yield b"".join(pending)
                    pending, size = [], 0
        # Each page goes out as it is done: the next page is read only after.
        if pending:
            yield b"".join(pending)
            pending, size = [], 0
    if pending:
        yield b"".join(pending)


async def _pdf_stream(
    db: AsyncSession, writer: _Writer, pages: ItemPages, title: str
) -> AsyncIterator[bytes]:
    # The finished file waits on disk past a few megabytes, and goes out a chunk at a time.
    with tempfile.SpooledTemporaryFile(max_size=4 * 1024 * 1024) as spool:
        pdf = _Pdf(spool, title)
        first = True
        async for page in pages():
            async for item, batches in _with_messages(db, page, notes=writer.options.notes):
                if not first:
                    pdf.page_break()
                first = False
                await _pdf_of(writer, item, batches, pdf)
        if first:
            pdf.write(writer.words.none)
        pdf.save()
        spool.seek(0)
        while chunk := spool.read(CHUNK_BYTES):
            yield chunk


async def _names(db: AsyncSession) -> _Names:
    return _Names(members={m.id: m.name for m in await members.list_members(db)})


async def _message_count(db: AsyncSession, conversation_ids: list[int], *, notes: bool) -> int:
    statement = select(func.count(Message.id)).where(Message.conversation_id.in_(conversation_ids))
    if not notes:
        statement = statement.where(Message.kind != MessageKind.note)
    return int(await db.scalar(statement) or 0)


def _check_pdf_size(conversations: int, messages: int) -> None:
    if conversations > MAX_PDF_CONVERSATIONS:
        raise Invalid(
            "A PDF holds at most %(n)d conversations: narrow the filter, or export as CSV or text.",
            n=MAX_PDF_CONVERSATIONS,
        )
    if messages > MAX_PDF_MESSAGES:
        raise Invalid(
            "A PDF holds at most %(n)d messages: narrow the filter, or export as CSV or text.",
            n=MAX_PDF_MESSAGES,
        )


async def export_conversation(
    db: AsyncSession, *, conversation: Conversation, member_id: int, options: ExportOptions
) -> Export:
    """One conversation (the caller has found it: a missing one is its 404)."""
    [item] = await repository.inbox_items(db, member_id=member_id, conversations=[conversation])
    if options.format == ExportFormat.pdf:
        _check_pdf_size(1, await _message_count(db, [conversation.id], notes=options.notes))
    names = await _names(db)

    async def pages() -> AsyncIterator[list[InboxItem]]:
        yield [item]

    title = f"{item.contact.display_name} #{conversation.id}"
    return Export(
        filename=f"conversation-{conversation.id}.{options.format}",
        media_type=options.media_type,
        chunks=_stream(db, options, names, pages, title),
    )


async def export_inbox(
    db: AsyncSession,
    *,
    member_id: int,
    query: InboxQuery,
    options: ExportOptions,
    now: datetime,
) -> Export:
    """Every conversation of a filtered inbox, in the list's order. The filter is checked (and
    the first page read) before anything is sent: a refusal is an answer, not a broken file."""

    async def page(cursor: Cursor | None) -> repository.Page:
        return await repository.list_conversations(
            db,
            member_id=member_id,
            query=InboxQuery(
                view=query.view,
                q=query.q,
                channel_id=query.channel_id,
                assignee_id=query.assignee_id,
                conditions=query.conditions,
                limit=EXPORT_PAGE,
                cursor=cursor,
            ),
            timezone=options.timezone,
            now=now,
        )

    first = await page(None)
    if options.format == ExportFormat.pdf:
        await _check_pdf_pages(db, first, page, notes=options.notes)
    names = await _names(db)

    async def pages() -> AsyncIterator[list[InboxItem]]:
        current = first
        while True:
            yield await repository.inbox_items(
                db, member_id=member_id, conversations=current.conversations
            )
            if current.next_cursor is None:
                return
            current = await page(Cursor.decode(current.next_cursor))

    day = now.astimezone(ZoneInfo(options.timezone)).strftime("%Y%m%d")
    return Export(
        filename=f"conversations-{day}.{options.format}",
        media_type=options.media_type,
        chunks=_stream(db, options, names, pages, options.gettext("Conversations")),
    )


async def _check_pdf_pages(
    db: AsyncSession,
    first: repository.Page,
    page: Callable[[Cursor | None], Any],
    *,
    notes: bool,
) -> None:
    """Counts the list (ids only, a page at a time) up to the PDF's limit before writing."""
    current, conversations, messages = first, 0, 0
    while True:
        ids = [c.id for c in current.conversations]
        conversations += len(ids)
        if ids:
            messages += await _message_count(db, ids, notes=notes)
        _check_pdf_size(conversations, messages)
        if current.next_cursor is None:
            return
        current = await page(Cursor.decode(current.next_cursor))
