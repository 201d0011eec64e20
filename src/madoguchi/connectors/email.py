"""E-mail (F36): mail to an e-mail channel's address becomes or continues a conversation
(received by SMTP inside ``serve`` when ``MADOGUCHI_SMTP_LISTEN`` is set); replies go out by
SMTP with ``In-Reply-To`` and ``References`` so the customer's mail program threads them."""

from __future__ import annotations

import asyncio
import contextlib
import email
import email.policy
import hashlib
import html
import logging
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formataddr, getaddresses, make_msgid
from html.parser import HTMLParser
from typing import Any

import aiosmtplib
from aiosmtpd.smtp import SMTP, Envelope, Session
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from madoguchi.channels.base import DeliveryError, Outgoing, printable
from madoguchi.channels.models import Channel, ChannelKind
from madoguchi.connectors import inbound
from madoguchi.conversations.models import MAX_TEXT_LENGTH, Message
from madoguchi.files import service as files
from madoguchi.kit.context import Ctx
from madoguchi.kit.errors import DomainError, Invalid
from madoguchi.kit.i18n import N_

log = logging.getLogger(__name__)
MAX_MAIL_BYTES = 25 * 1024 * 1024
_QUOTE_HEADER = re.compile(r"^(On .+ wrote:|.+(年|/).+<[^>]+>.*:|-+ ?Original Message ?-+)\s*$")


# --- reading mail -----------------------------------------------------------------------------


class _TextOf(HTMLParser):
    """HTML made safe by keeping only its text (no markup, no scripts) with line breaks."""

    BLOCKS = frozenset({"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "blockquote"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style", "head"):
            self.skip += 1
        elif tag in self.BLOCKS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style", "head"):
            self.skip = max(0, self.skip - 1)
        elif tag in self.BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self.skip:
            self.parts.append(data)


def html_to_text(markup: str) -> str:
    parser = _TextOf()
    parser.feed(markup)
    text = html.unescape("".join(parser.parts))
    return re.sub(r"\n{3,}", "\n\n", "\n".join(line.strip() for line in text.splitlines())).strip()


def strip_quote(text: str) -> str:
    """The new part of a reply: without the quoted mail below it."""
    lines = text.splitlines()
    for index, line in enumerate(lines):
        rest = [rest_line for rest_line in lines[index + 1 :] if rest_line.strip()]
        quoted_below = bool(rest) and all(rest_line.startswith(">") for rest_line in rest)
        if (_QUOTE_HEADER.match(line.strip()) and quoted_below) or (
            line.startswith(">") and all(r.startswith(">") for r in lines[index:] if r.strip())
        ):
            kept = "\n".join(lines[:index]).strip()
            return kept or text.strip()
    return text.strip()


@dataclass(frozen=True)
class InboundMail:
    sender: str
    sender_name: str
    message_id: str
    subject: str
    references: list[str]
    text: str
    images: list[tuple[str, bytes]]


def parse_mail(raw: bytes, envelope_from: str | None = None) -> InboundMail:
    """The mail's parts we keep, every string ``printable`` (PostgreSQL keeps no NUL: storing
    one would answer 451 and the sender's server would try again and again)."""
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    senders = getaddresses([str(message.get("From", ""))])
    name, address = senders[0] if senders else ("", "")
    address = printable(address or envelope_from or "").strip().lower()
    if "@" not in address:
        raise Invalid("The mail has no sender address.")
    message_id = printable(str(message.get("Message-ID", ""))).strip()
    if not message_id:
        message_id = "<" + hashlib.sha256(raw).hexdigest()[:32] + "@madoguchi.invalid>"
    references = printable(
        f"{message.get('References', '')} {message.get('In-Reply-To', '')}"
    ).split()
    body = message.get_body(preferencelist=("plain", "html"))
    text = ""
    if isinstance(body, EmailMessage):
        content = body.get_content()
        text = html_to_text(content) if body.get_content_subtype() == "html" else str(content)
    text = strip_quote(printable(text.replace("\r\n", "\n")))
    if len(text) > MAX_TEXT_LENGTH:
        text = text[: MAX_TEXT_LENGTH - 1] + "…"
    images = []
    for part in message.walk():
        if part.get_content_maintype() == "image" and isinstance(part, EmailMessage):
            data = part.get_content()
            if isinstance(data, bytes):
                images.append((printable(part.get_filename() or "") or "image", data))
    return InboundMail(
        sender=address,
        sender_name=printable(str(name or "")).strip(),
        message_id=message_id[:255],
        subject=printable(str(message.get("Subject", ""))).strip()[:300],
        references=list(dict.fromkeys(references))[-20:],
        text=text,
        images=images[:3],
    )


async def email_channel(db: AsyncSession, address: str) -> Channel | None:
    """The enabled e-mail channel whose address this is (case does not matter)."""
    channels = await db.scalars(
        select(Channel).where(Channel.kind == ChannelKind.email, Channel.enabled.is_(True))
    )
    wanted = address.strip().lower()
    found: Channel | None = None
    for channel in channels:
        if str(channel.settings.get("address") or "").strip().lower() == wanted:
            found = channel
            break
    return found


async def receive(ctx: Ctx, channel: Channel, mail: InboundMail) -> Message:
    """Store one mail as the customer's message, in the conversation it answers (a message its
    ``References`` / ``In-Reply-To`` name), else in the sender's latest.

    No subject fallback: the sender is one contact on this channel, and a contact keeps one
    conversation per channel (a closed one reopens), which is the latest — the subject could
    choose no other. Should a contact ever have several, match the subject here.
    """
    ingested = await inbound.receive(
        ctx,
        inbound.Inbound(
            channel_id=channel.id,
            kind=ChannelKind.email,
            sender=mail.sender,
            name=mail.sender_name or mail.sender,
            email=mail.sender,
            message_id=mail.message_id,
            text=mail.text or (mail.subject if not mail.images else ""),
            images=[inbound.Attachment(name, data) for name, data in mail.images],
            meta={
                "subject": mail.subject,
                "references": [*mail.references, mail.message_id][-20:],
                "from": mail.sender,
            },
            answers=mail.references,
        ),
    )
    return ingested.message


# --- the SMTP listener ------------------------------------------------------------------------


class MailHandler:
    """aiosmtpd's handler: unknown recipients are refused at RCPT; a mail is acknowledged (250)
    only after it is stored."""

    def __init__(self, new_ctx: Any) -> None:
        self.new_ctx = new_ctx

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        async with self.new_ctx() as ctx:
            channel = await email_channel(ctx.db, address)
        if channel is None:
            log.info("SMTP: refused mail to unknown address %s", address)
            return "550 5.1.1 No such mailbox here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or envelope.content
        if not isinstance(raw, bytes) or len(raw) > MAX_MAIL_BYTES:
            return "552 5.3.4 Message too big"
        try:
            mail = parse_mail(raw, envelope.mail_from)
        except (DomainError, ValueError, LookupError) as error:
            log.warning("SMTP: unreadable mail refused: %s", error)
            return "554 5.6.0 The mail could not be read"
        for address in envelope.rcpt_tos:
            try:
                async with self.new_ctx() as ctx:
                    channel = await email_channel(ctx.db, address)
                    if channel is not None:
                        await receive(ctx, channel, mail)
            except DomainError as error:
                log.warning("SMTP: mail to %s refused: %s", address, error)
                return "554 5.6.0 " + str(error)
            except Exception:
                log.exception("SMTP: storing mail to %s failed", address)
                return "451 4.3.0 Please try again later"
        return "250 Message accepted"


@contextlib.asynccontextmanager
async def listening(new_ctx: Any, listen: str) -> AsyncIterator[asyncio.Server]:
    """Accept mail by SMTP on ``HOST:PORT`` in this event loop while the block runs."""
    host, _, port = listen.rpartition(":")
    handler = MailHandler(new_ctx)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(handler, data_size_limit=MAX_MAIL_BYTES, enable_SMTPUTF8=True),
        host=host or "127.0.0.1",
        port=int(port),
    )
    try:
        yield server
    finally:
        server.close()
        await server.wait_closed()


# --- sending ----------------------------------------------------------------------------------


def reply_subject(subject: str, fallback: str) -> str:
    if not subject:
        return fallback
    return subject if re.match(r"^(re|ｒｅ)\s*[:：]", subject, re.IGNORECASE) else f"Re: {subject}"


class EmailAdapter:
    async def send(self, outgoing: Outgoing) -> str | None:
        settings = outgoing.channel.settings
        address = str(settings.get("address") or "")
        host = str(settings.get("smtp_host") or "")
        if not address or not host:
            raise DeliveryError(
                N_("The e-mail channel has no address or SMTP server: set them in its settings."),
                retryable=False,
            )
        recipient = outgoing.contact.email or outgoing.contact.external_id or ""
        if "@" not in recipient:
            raise DeliveryError(N_("This customer has no e-mail address."), retryable=False)
        mail = EmailMessage()
        mail["From"] = formataddr((outgoing.channel.name, address))
        mail["To"] = recipient
        meta = outgoing.message.meta or {}
        if meta.get("subject"):
            # A broadcast's mail starts a thread of its own.
            mail["Subject"] = str(meta["subject"])
        else:
            mail["Subject"] = reply_subject(
                str(outgoing.thread.get("subject") or ""), outgoing.channel.name
            )
        if meta.get("unsubscribe"):
            # RFC 8058: the mail client's own unsubscribe button POSTs to this address.
            mail["List-Unsubscribe"] = f"<{meta['unsubscribe']}>"
            mail["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        mail["Message-ID"] = outgoing.message.external_id or make_msgid()
        in_reply_to = outgoing.thread.get("in_reply_to")
        if in_reply_to:
            mail["In-Reply-To"] = str(in_reply_to)
            references = [str(r) for r in outgoing.thread.get("references") or []]
            mail["References"] = " ".join([*references, str(in_reply_to)][-20:])
        mail.set_content(outgoing.message.text or "")
        for image in outgoing.images:
            data = files.path_of(outgoing.files_root, image.file).read_bytes()
            maintype, _, subtype = image.file.content_type.partition("/")
            mail.add_attachment(
                data,
                maintype=maintype,
                subtype=subtype,
                filename=image.file.original_name or f"image-{image.file.id}.{subtype}",
            )
        port = int(settings.get("smtp_port") or 587)
        try:
            await aiosmtplib.send(
                mail,
                hostname=host,
                port=port,
                username=str(settings.get("smtp_username") or "") or None,
                password=str(settings.get("smtp_password") or "") or None,
                use_tls=port == 465,
                start_tls=None if port != 465 else False,
                timeout=20,
            )
        except aiosmtplib.SMTPRecipientsRefused as error:
            raise DeliveryError(f"SMTP refused the recipient: {error}", retryable=False) from None
        except aiosmtplib.SMTPResponseException as error:
            raise DeliveryError(
                f"SMTP {error.code} {error.message}", retryable=500 > error.code >= 400
            ) from None
        except (aiosmtplib.SMTPException, OSError) as error:
            raise DeliveryError(f"SMTP: {error}", retryable=True) from None
        return str(mail["Message-ID"])
