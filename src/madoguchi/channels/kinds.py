"""Each channel kind described once: what it takes, what it offers, how its replies go out.

The service (settings, webhook URL, reply window, initial delivery) and the settings page read
these descriptions, so a new kind is one more ``ChannelKindSpec`` here, not one more ``kind ==``
in each of them. A kind's adapter and webhook routes call the services that read this module,
so they are registered a layer up, in connectors/adapters.py.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from email.utils import make_msgid

from madoguchi.channels.models import Channel, ChannelKind
from madoguchi.conversations.models import Delivery
from madoguchi.kit.i18n import N_


@dataclass(frozen=True)
class Setting:
    """One setting of a kind as the settings form shows it (labels and help are msgids)."""

    key: str
    label: str
    input: str = "text"  # text, secret, number, email or lines
    placeholder: str = ""
    help: str = ""
    required: bool = False

    @property
    def secret(self) -> bool:
        return self.input == "secret"


@dataclass(frozen=True)
class ChannelKindSpec:
    """One channel kind, as every part that treats kinds differently needs to know it."""

    kind: ChannelKind
    # What the settings page says the kind is for (a msgid).
    description: str
    # The settings the form offers, in the order of the contract (../SPEC: channel create).
    settings: tuple[Setting, ...]
    # The settings page's steps to connect one (a template under templates/).
    setup_template: str
    # Settings the kind takes that the form does not offer (tests and demos set them).
    hidden_keys: tuple[str, ...] = ("demo",)
    # The page's name placeholder for a new channel (a msgid).
    name_placeholder: str = N_("e.g. ルミエール")
    # Said once a channel of this kind is added (a msgid with %(name)s).
    added_notice: str = N_("Added the channel %(name)s.")
    # Where the channel's servers call us ({id}: the channel's), and where its owner pastes it.
    webhook_path: str | None = None
    webhook_help: str = ""
    # The web chat's script tag ({id}: the channel's), for the owner's pages.
    widget_path: str | None = None
    # How long after the customer's last message a reply may go out (None: no limit), and the
    # refusal once it has passed (a msgid).
    reply_window: timedelta | None = None
    reply_window_closed: str = ""
    # Where a reply stands once stored: sent when nothing carries it further (the API channel's
    # integration reads it through the API, the web chat from the database), else pending in
    # the outbox for the adapter. Demo channels' replies are always sent.
    reply_delivery: Delivery = Delivery.pending
    # The id a reply carries on the channel, chosen before it is sent (so every retry sends it).
    outbound_id: Callable[[Channel], str | None] | None = None
    secrets: frozenset[str] = field(init=False)
    required: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "secrets", frozenset(s.key for s in self.settings if s.secret))
        object.__setattr__(self, "required", tuple(s.key for s in self.settings if s.required))

    @property
    def setting_keys(self) -> tuple[str, ...]:
        """Every setting the kind takes (the fixed contract)."""
        return tuple(s.key for s in self.settings) + self.hidden_keys


def _email_message_id(channel: Channel) -> str:
    address = str(channel.settings.get("address") or "")
    return make_msgid(domain=address.rpartition("@")[2] or "madoguchi.invalid")


LINE = ChannelKindSpec(
    kind=ChannelKind.line,
    setup_template="settings/channel_setup/line.html",
    description=N_("LINE Official Account messages"),
    settings=(
        Setting(
            "channel_secret",
            N_("Channel secret"),
            "secret",
            help=N_("LINE Developers → your Messaging API channel → Basic settings."),
            required=True,
        ),
        Setting(
            "access_token",
            N_("Channel access token"),
            "secret",
            help=N_("The long-lived one, issued under Messaging API."),
            required=True,
        ),
    ),
    hidden_keys=("api_base", "demo"),
    name_placeholder=N_("e.g. 公式LINE"),
    added_notice=N_("Added the channel %(name)s: now paste its Webhook URL into the console."),
    webhook_path="/webhooks/line/{id}",
    webhook_help=N_("Paste it into the LINE Developers console: Messaging API → Webhook settings."),
)
INSTAGRAM = ChannelKindSpec(
    kind=ChannelKind.instagram,
    setup_template="settings/channel_setup/instagram.html",
    description=N_("Instagram direct messages"),
    settings=(
        Setting(
            "app_secret",
            N_("App secret"),
            "secret",
            help=N_("Meta for Developers → your app → App settings → Basic."),
            required=True,
        ),
        Setting(
            "verify_token",
            N_("Verify token"),
            "secret",
            help=N_("Any phrase you make up; type the same one in the app's Webhooks settings."),
            required=True,
        ),
        Setting(
            "access_token",
            N_("Access token"),
            "secret",
            help=N_(
                "Generated for the account with the instagram_business_basic and "
                "instagram_business_manage_messages permissions."
            ),
            required=True,
        ),
    ),
    hidden_keys=("api_base", "demo"),
    added_notice=N_("Added the channel %(name)s: now paste its Webhook URL into the console."),
    webhook_path="/webhooks/instagram/{id}",
    webhook_help=N_(
        "Paste it into your Meta app: Webhooks → Instagram → Callback URL, with the same "
        "verify token."
    ),
    # Instagram lets a business answer only within 24 hours of the customer's last message.
    reply_window=timedelta(hours=24),
    reply_window_closed=N_(
        "Instagram allows replies only within 24 hours of the customer's last message."
    ),
)
EMAIL = ChannelKindSpec(
    kind=ChannelKind.email,
    setup_template="settings/channel_setup/email.html",
    description=N_("Mail to your shop's address, answered by e-mail"),
    settings=(
        Setting(
            "address",
            N_("Address"),
            "email",
            placeholder="info@salon.example.jp",
            help=N_("The address customers write to."),
            required=True,
        ),
        Setting(
            "smtp_host",
            N_("SMTP server"),
            placeholder="smtp.example.jp",
            help=N_("The server that sends your replies."),
            required=True,
        ),
        Setting(
            "smtp_port",
            N_("Port"),
            "number",
            placeholder="587",
            help=N_("587 (STARTTLS) or 465 (TLS)."),
        ),
        Setting("smtp_username", N_("User name")),
        Setting("smtp_password", N_("Password"), "secret"),
    ),
    outbound_id=_email_message_id,
)
WEB = ChannelKindSpec(
    kind=ChannelKind.web,
    setup_template="settings/channel_setup/web.html",
    description=N_("A chat button on your own web site"),
    settings=(
        Setting(
            "allowed_origins",
            N_("Allowed sites"),
            "lines",
            placeholder="https://salon.example.jp\nhttps://www.salon.example.jp",
            help=N_("One a line, as in the address bar without the page: https://salon.example.jp"),
            required=True,
        ),
        Setting(
            "identity_secret",
            N_("Identity secret"),
            "secret",
            help=N_(
                "Optional: to recognise customers signed in on your site (see below). "
                "Keep it on your server only."
            ),
        ),
    ),
    added_notice=N_("Added the channel %(name)s: now paste its tag into your site's pages."),
    widget_path="/widget/{id}.js",
    reply_delivery=Delivery.sent,
)
API = ChannelKindSpec(
    kind=ChannelKind.api,
    setup_template="settings/channel_setup/api.html",
    description=N_("Messages from your own system (booking system, forms)"),
    settings=(),
    name_placeholder=N_("e.g. 予約システム"),
    reply_delivery=Delivery.sent,
)

# Every kind, in the order the settings page offers them.
KINDS: dict[str, ChannelKindSpec] = {spec.kind: spec for spec in (LINE, INSTAGRAM, EMAIL, WEB, API)}
